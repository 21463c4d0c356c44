"""The `kustomization` rule: a kustomization built at build time with the Kustomize Go API."""

load(":builder.bzl", "BUILDER_ATTRS", "run_builder")
load(":manifests.bzl", "canonical_label")
load(":providers.bzl", "ImageInfo", "RenderedYamlInfo")
load(":render_common.bzl", "file_entries", "render_images")

def _kustomization_impl(ctx):
    directory = ctx.label.package
    if ctx.attr.dir not in ("", "."):
        directory = (directory + "/" + ctx.attr.dir) if directory else ctx.attr.dir
    images, rendered_images, digests = render_images(ctx.attr.images)
    spec = ctx.actions.declare_file(ctx.label.name + ".kustomize.json")
    ctx.actions.write(spec, json.encode({
        "dir": directory,
        "files": file_entries(ctx.files.srcs),
        "images": images,
        "target": canonical_label(ctx.label),
    }))
    out = ctx.actions.declare_file(ctx.label.name + ".yaml")
    run_builder(
        ctx,
        "render-kustomize",
        inputs = [spec] + ctx.files.srcs + digests,
        outputs = [out],
        flags = ["--spec=" + spec.path, "--out=" + out.path],
        mnemonic = "RenderKustomize",
        progress = "Building kustomization %{label}",
    )
    return [
        DefaultInfo(files = depset([out])),
        RenderedYamlInfo(yaml = out, images = rendered_images),
    ]

kustomization_rule = rule(
    implementation = _kustomization_impl,
    doc = """A kustomization built at build time, as `kustomize build` would, with Kustomize's Go
API (krusty) inside the action, from an in-memory copy of `srcs` only (no network, no plugins,
no files outside `srcs`). Outputs `<name>.yaml`; give the target to a `manifests` target's
`srcs` to validate, deploy and watch it (its images come along).

Bases and overlays, patches, `configMapGenerator` / `secretGenerator` (hash suffixes are
content-based, so stable), `images`, `namePrefix`, `namespace` and labels work as in
`kustomize build`. A file that is not there is named with the kustomization line that refers
to it.""",
    attrs = {
        "dir": attr.string(
            doc = "The kustomization's directory, relative to this package (default: the package itself), e.g. `k8s/overlays/dev`.",
        ),
        "images": attr.string_keyed_label_dict(
            doc = """Image name, as the kustomization outputs it, → `image` target, e.g.
`{"worker": ":image"}`: those containers run `registry/repository@sha256:...` of the built image
(as a Kustomize `images:` entry over the kustomization, with `newName` and `digest`).""",
            providers = [ImageInfo],
        ),
        "srcs": attr.label_list(
            doc = "Every file the kustomization reads: its own and its bases' (e.g. `glob([\"k8s/**\"])`).",
            allow_files = True,
            mandatory = True,
        ),
    } | BUILDER_ATTRS,
)
