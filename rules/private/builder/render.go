package main

import (
	"os"

	"github.com/slipway-dev/slipway/internal/render"
)

func renderHelmVerb(args []string) error {
	fs := newFlags("render-helm")
	spec := fs.String("spec", "", "chart render spec (JSON)")
	out := fs.String("out", "", "output: the rendered multi-document YAML")
	if err := parse(fs, args, "spec", "out"); err != nil {
		return err
	}
	var s render.HelmSpec
	if err := readJSON(*spec, &s); err != nil {
		return err
	}
	y, err := render.Helm(s)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, y, 0o644)
}

func renderKustomizeVerb(args []string) error {
	fs := newFlags("render-kustomize")
	spec := fs.String("spec", "", "kustomization render spec (JSON)")
	out := fs.String("out", "", "output: the rendered multi-document YAML")
	if err := parse(fs, args, "spec", "out"); err != nil {
		return err
	}
	var s render.KustomizeSpec
	if err := readJSON(*spec, &s); err != nil {
		return err
	}
	y, err := render.Kustomize(s)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, y, 0o644)
}
