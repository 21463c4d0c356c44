"""The `.push` run target of an image or index."""

load(":providers.bzl", "ImageInfo")
load(":runfiles.bzl", "LAUNCHER_PREAMBLE", "rlocation_path", "shell_quote")

def _image_push_impl(ctx):
    info = ctx.attr.image[ImageInfo]
    slipway = ctx.executable._slipway
    args = [
        "push",
        "--layout=$RUNFILES_DIR/" + rlocation_path(ctx, info.layout),
        "--repository=" + info.repository,
    ]
    if info.registry:
        args.append("--default-registry=" + info.registry)
    for tag in ctx.attr.tags_to_push:
        args.append("--tag=" + tag)
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = launcher,
        content = LAUNCHER_PREAMBLE + 'exec "$RUNFILES_DIR/{slipway}" {args} "$@"\n'.format(
            slipway = rlocation_path(ctx, slipway),
            # $RUNFILES_DIR expands at run time; everything else is quoted.
            args = " ".join([shell_quote(a).replace("$RUNFILES_DIR", "'\"$RUNFILES_DIR\"'") for a in args]),
        ),
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [slipway, info.layout]).merge(ctx.attr._slipway[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

image_push = rule(
    implementation = _image_push_impl,
    doc = """Pushes an image or index: `bazel run //pkg:image.push [-- --registry=HOST]`.

Checks the manifest first and uploads nothing when the registry has it; otherwise uploads only
the blobs the registry lacks, in parallel, mounting them from other repositories of the same
registry where slipway pushed them before. Prints `registry/repository@sha256:...`.
The destination registry is the `--registry` flag, else the image's `registry` attribute, else
the cluster's KEP-1755 `local-registry-hosting` ConfigMap.""",
    attrs = {
        "image": attr.label(
            doc = "The image or image index to push.",
            mandatory = True,
            providers = [ImageInfo],
        ),
        "tags_to_push": attr.string_list(
            doc = "Tags to point at the pushed digest (none by default: deployments use digests).",
        ),
        "_slipway": attr.label(
            default = "//cmd/slipway",
            executable = True,
            cfg = "target",
        ),
    },
    executable = True,
)
