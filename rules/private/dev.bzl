"""The `dev` rule: `bazel run` starts slipway's dev loop."""

load(":runfiles.bzl", "LAUNCHER_PREAMBLE", "rlocation_path", "shell_quote")

def _dev_impl(ctx):
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    slipway = ctx.executable._slipway
    args = ["dev"]
    ctx.actions.write(
        output = launcher,
        content = LAUNCHER_PREAMBLE + 'exec "$RUNFILES_DIR/{slipway}" {args} "$@"\n'.format(
            slipway = rlocation_path(ctx, slipway),
            args = " ".join([shell_quote(a) for a in args]),
        ),
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [slipway]).merge(ctx.attr._slipway[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

dev = rule(
    implementation = _dev_impl,
    doc = """Runs slipway's dev loop: `bazel run` watches the workspace and keeps the cluster
in step with it.""",
    attrs = {
        "_slipway": attr.label(
            default = "//cmd/slipway",
            executable = True,
            cfg = "target",
        ),
    },
    executable = True,
)
