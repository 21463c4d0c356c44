"""The `dev` rule: `bazel run` starts slipway's dev loop over manifests targets."""

load(":manifests.bzl", "canonical_label")
load(":runfiles.bzl", "LAUNCHER_PREAMBLE", "rlocation_path", "shell_quote")

def _dev_impl(ctx):
    slipway = ctx.executable._slipway
    args = [ctx.attr.command]
    args.extend(["--target=" + t for t in ctx.attr.targets])
    args.extend(["--build-flag=" + f for f in ctx.attr.build_flags])
    args.extend(["--allow-context=" + c for c in ctx.attr.allowed_contexts])
    for flag, value in [("context", ctx.attr.context), ("registry", ctx.attr.registry), ("namespace", ctx.attr.namespace)]:
        if value:
            args.append("--%s=%s" % (flag, value))
    if ctx.attr.command == "dev":
        if ctx.attr.debounce:
            args.append("--debounce=" + ctx.attr.debounce)
        args.extend(["--button=%s=%s" % (name, target) for name, target in sorted(ctx.attr.buttons.items())])
        args.extend(["--disable=" + t for t in ctx.attr.disabled])
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
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

dev_rule = rule(
    implementation = _dev_impl,
    doc = """Runs slipway's dev loop: `bazel run //:dev` deploys the `targets`, then watches the
files they are built from and, on each change, rebuilds only the affected targets, pushes
only images whose digest changed and applies only objects whose rendered content changed.
A build error keeps the last good deployment. Extra flags go after `--`, e.g.
`bazel run //:dev -- --json` (see `slipway dev --help`).""",
    attrs = {
        "allowed_contexts": attr.string_list(
            doc = "Kubeconfig contexts, beyond the local ones, the loop may deploy to.",
        ),
        "buttons": attr.string_dict(
            doc = """Custom buttons of the dev loop's web UI, by name: each runs a `bazel run` target, e.g.
`{"migrate-db": "//tools/db:migrate"}`. Its output goes to that button's log in the UI, with its
exit status; `POST /api/v1/buttons/NAME` presses it.""",
        ),
        "build_flags": attr.string_list(
            doc = "Flags for the loop's `bazel build` and `bazel cquery` alike (the same flags keep Bazel's analysis cache).",
        ),
        "command": attr.string(
            doc = """`dev` (the loop), `ci` (deploy once, wait until ready: `slipway ci`) or `affected`
(deployables whose outputs differ between commits: `slipway affected --base REV`).""",
            default = "dev",
            values = ["dev", "ci", "affected"],
        ),
        "context": attr.string(
            doc = "The kubeconfig context to deploy to. Default: the current context, else the local cluster (`slipway cluster up`), which the loop starts.",
        ),
        "debounce": attr.string(
            doc = "How long file events must be quiet before a cycle pushes or applies, e.g. `\"200ms\"`; its build starts after a tenth of it. Default: 100ms.",
        ),
        "disabled": attr.string_list(
            doc = """Deployables (labels of `targets`) the loop leaves out until enabled: optional services.
Enable them from the web UI, or per user in `.slipway/settings.json` (`{"enabled": [LABEL...]}`).""",
        ),
        "namespace": attr.string(
            doc = "Namespace for objects without one, overriding the targets' own.",
        ),
        "registry": attr.string(
            doc = "The registry to push to. Default: the cluster's KEP-1755 local-registry-hosting ConfigMap.",
        ),
        "targets": attr.string_list(
            doc = """The `manifests` targets to keep deployed, or patterns matching them such as
`//services/...` (new manifests targets under a pattern are picked up as BUILD files change).
Labels, not dependencies, so that a broken target does not keep the loop from starting.""",
            mandatory = True,
        ),
        "_slipway": attr.label(
            default = "//cmd/slipway",
            executable = True,
            cfg = "target",
        ),
    },
    executable = True,
)

def _is_pattern(target):
    return target.endswith("...") or target.endswith(":all") or target.endswith(":*")

def dev(name, targets, **kwargs):
    """The dev loop over `targets`, and the same targets for CI.

    Creates `name` (`bazel run //:name`: the dev loop), `name.ci` (`bazel run //:name.ci`:
    build, push what is missing, apply what changed, wait until ready, once) and
    `name.affected` (`bazel run //:name.affected -- --base origin/main`: the deployables
    whose outputs differ from another commit). All are `dev_rule` targets.

    Args:
      name: the target's name.
      targets: the manifests targets to keep deployed (relative labels allowed), or
        absolute patterns matching them, such as `//services/...`.
      **kwargs: attributes of `dev_rule`.
    """
    targets = [t if _is_pattern(t) else canonical_label(native.package_relative_label(t)) for t in targets]
    if "buttons" in kwargs:
        kwargs["buttons"] = {k: canonical_label(native.package_relative_label(v)) for k, v in kwargs["buttons"].items()}
    if "disabled" in kwargs:
        kwargs["disabled"] = [canonical_label(native.package_relative_label(t)) for t in kwargs["disabled"]]
    dev_rule(name = name, targets = targets, **kwargs)
    for command in ["ci", "affected"]:
        dev_rule(name = name + "." + command, command = command, targets = targets, **kwargs)
