package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/slipway-dev/slipway/internal/manifest"
)

func manifestsVerb(args []string) error {
	fs := newFlags("manifests")
	spec := fs.String("spec", "", "render spec (JSON)")
	yamlOut := fs.String("yaml", "", "output: the rendered multi-document YAML")
	inventory := fs.String("inventory", "", "output: the inventory (JSON)")
	if err := parse(fs, args, "spec", "yaml", "inventory"); err != nil {
		return err
	}
	var s manifest.RenderSpec
	if err := readJSON(*spec, &s); err != nil {
		return err
	}
	res, err := manifest.Render(s)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	if err := os.WriteFile(*yamlOut, res.YAML, 0o644); err != nil {
		return err
	}
	var inv bytes.Buffer
	if err := manifest.WriteInventory(&inv, res.Inventory); err != nil {
		return err
	}
	return os.WriteFile(*inventory, inv.Bytes(), 0o644)
}
