"""The `helm_chart` rule: a Helm chart rendered at build time with the Helm Go SDK."""

load(":builder.bzl", "BUILDER_ATTRS", "run_builder")
load(":manifests.bzl", "canonical_label")
load(":providers.bzl", "ImageInfo", "RenderedYamlInfo")
load(":render_common.bzl", "file_entries", "render_images")

def _helm_chart_impl(ctx):
    chart_yaml = ctx.file.chart
    chart_dir = chart_yaml.short_path.rpartition("/")[0]
    files = {f.short_path: f for f in ctx.files.srcs}
    files[chart_yaml.short_path] = chart_yaml
    images, rendered_images, digests = render_images(ctx.attr.images)
    spec = ctx.actions.declare_file(ctx.label.name + ".helm.json")
    ctx.actions.write(spec, json.encode({
        "chart": chart_dir,
        "files": file_entries([files[k] for k in sorted(files.keys())]),
        "images": images,
        "kube_version": ctx.attr.kube_version,
        "namespace": ctx.attr.namespace,
        "release": ctx.attr.release or ctx.label.name,
        "set": ["%s=%s" % (k, ctx.attr.set[k]) for k in sorted(ctx.attr.set.keys())],
        "target": canonical_label(ctx.label),
        "values": file_entries(ctx.files.values),
    }))
    out = ctx.actions.declare_file(ctx.label.name + ".yaml")
    run_builder(
        ctx,
        "render-helm",
        inputs = [spec] + files.values() + ctx.files.values + digests,
        outputs = [out],
        flags = ["--spec=" + spec.path, "--out=" + out.path],
        mnemonic = "RenderHelm",
        progress = "Rendering Helm chart %{label}",
    )
    return [
        DefaultInfo(files = depset([out])),
        RenderedYamlInfo(yaml = out, images = rendered_images),
    ]

helm_chart_rule = rule(
    implementation = _helm_chart_impl,
    doc = """A Helm chart rendered at build time, as `helm template` would, with the Helm Go SDK
inside the action (no helm binary, no cluster, no network). Outputs `<name>.yaml`; give the
target to a `manifests` target's `srcs` to validate, deploy and watch it (its images come along).

Supported: templates and helpers, subcharts in `charts/` (directories), conditions and tags,
`crds/` (rendered first), `.Capabilities` from `kube_version`, `NOTES.txt` (dropped).
Refused with a message naming the template file and line: hooks (`helm.sh/hook`), `lookup`,
and functions whose output changes on every render (`randAlphaNum`, `uuidv4`, `now`, `genCA`,
...). Template errors fail the build as Helm reports them, with the workspace file and line.""",
    attrs = {
        "chart": attr.label(
            doc = "The chart's `Chart.yaml`; its directory is the chart directory.",
            allow_single_file = ["Chart.yaml"],
            mandatory = True,
        ),
        "images": attr.string_keyed_label_dict(
            doc = """Value path → `image` target, e.g. `{"image": ":image"}`. The chart receives
the built digest: a string value becomes `registry/repository@sha256:...`; a map (or a missing
value) gets `repository` (`registry/repository`, or `registry` and `repository` apart when the
map has a `registry` key), `tag` (`sha256-<hex>`) and `digest` (`sha256:...`).""",
            providers = [ImageInfo],
        ),
        "kube_version": attr.string(
            doc = "Kubernetes version of `.Capabilities.KubeVersion`, checked against the chart's `kubeVersion`.",
            default = "1.37.0",
        ),
        "namespace": attr.string(
            doc = """`.Release.Namespace`. Use the same value as the `manifests` target's `namespace`:
then `{user}` in it is replaced by `$USER` when deploying, like the target's namespace.""",
        ),
        "release": attr.string(
            doc = "`.Release.Name` (default: the target's name).",
        ),
        "set": attr.string_dict(
            doc = "Values set last, as `helm --set key=value` (key paths like `a.b[0].c`).",
        ),
        "srcs": attr.label_list(
            doc = "Every file of the chart directory (e.g. `glob([\"chart/**\"])`), subcharts included.",
            allow_files = True,
        ),
        "values": attr.label_list(
            doc = """Values files layered in order over the chart's `values.yaml` (later files
win): e.g. an environment's file, then a developer's own (see the `helm_chart` macro's
`user_values`).""",
            allow_files = [".yaml", ".yml", ".json"],
        ),
    } | BUILDER_ATTRS,
)
