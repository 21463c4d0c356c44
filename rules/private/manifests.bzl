"""The `manifests` rule: Kubernetes objects rendered with image digests, and their run targets."""

load(":builder.bzl", "BUILDER_ATTRS", "run_builder")
load(":providers.bzl", "ImageInfo", "ManifestsInfo", "RenderedYamlInfo")
load(":runfiles.bzl", "LAUNCHER_PREAMBLE", "rlocation_path", "shell_quote")

def canonical_label(label):
    """`//pkg:name` for main-repository labels, `@@repo//pkg:name` otherwise.

    Args:
      label: a Label.

    Returns:
      The label as a string, the same however Bazel prints main-repository labels.
    """
    s = str(label)
    if s.startswith("@@//"):
        return s[2:]
    if s.startswith("@//"):
        return s[1:]
    return s

def _file_ref(ctx, f):
    return {"path": f.path, "rlocation": rlocation_path(ctx, f), "short_path": f.short_path}

def _collect_images(ctx):
    """The images of `images` and of the `srcs` rendered from charts and kustomizations.

    Args:
      ctx: the manifests rule's context.

    Returns:
      (images for the render spec, their ImageInfos), sorted by label.
    """
    refs_by_label = {}
    info_by_label = {}
    label_by_key = {}
    for ref, target in ctx.attr.images.items():
        key = str(target.label)
        refs_by_label.setdefault(key, []).append(ref)
        info_by_label[key] = target[ImageInfo]
        label_by_key[key] = target.label
    for src in ctx.attr.srcs:
        if RenderedYamlInfo not in src:
            continue
        for image in src[RenderedYamlInfo].images:
            key = str(image.label)
            refs = refs_by_label.setdefault(key, [])
            if image.ref not in refs:
                refs.append(image.ref)
            info_by_label[key] = image.info
            label_by_key[key] = image.label
    images = []
    image_infos = []
    for key in sorted(info_by_label.keys()):
        info = info_by_label[key]
        image_infos.append(info)
        images.append({
            "digest_file": info.digest.path,
            "label": canonical_label(label_by_key[key]),
            "refs": sorted(refs_by_label[key]),
            "registry": info.registry,
            "repository": info.repository,
        })
    return images, image_infos

def _manifests_impl(ctx):
    images, image_infos = _collect_images(ctx)

    spec = ctx.actions.declare_file(ctx.label.name + ".render.json")
    ctx.actions.write(spec, json.encode({
        "images": images,
        "labels": ctx.attr.labels,
        "namespace": ctx.attr.namespace,
        "package": ctx.label.package,
        "sources": [{"name": f.short_path, "path": f.path} for f in ctx.files.srcs],
        "strict": ctx.attr.strict,
        "target": canonical_label(ctx.label),
    }))
    rendered = ctx.actions.declare_file(ctx.label.name + ".yaml")
    inventory = ctx.actions.declare_file(ctx.label.name + ".inventory.json")
    run_builder(
        ctx,
        "manifests",
        inputs = [spec] + ctx.files.srcs + [info.digest for info in image_infos],
        outputs = [rendered, inventory],
        flags = ["--spec=" + spec.path, "--yaml=" + rendered.path, "--inventory=" + inventory.path],
        mnemonic = "RenderManifests",
        progress = "Rendering manifests %{label}",
    )

    _check_port_forwards(ctx)
    agent, agent_files = _live_agent(ctx, image_infos)
    deploy_spec = ctx.actions.declare_file(ctx.label.name + ".deploy.json")
    ctx.actions.write(deploy_spec, json.encode({
        "allowed_contexts": ctx.attr.allowed_contexts,
        "images": [_image_spec(ctx, image["label"], info) for image, info in zip(images, image_infos)],
        "live_agent": agent,
        "force_conflicts": ctx.attr.force_conflicts,
        "inventory": _file_ref(ctx, inventory),
        "port_forwards": ctx.attr.port_forwards,
        "target": canonical_label(ctx.label),
        "yaml": _file_ref(ctx, rendered),
    }))
    return [
        DefaultInfo(files = depset([rendered, inventory])),
        OutputGroupInfo(deploy = depset([rendered, inventory, deploy_spec] + [info.layout for info in image_infos] + [info.digest for info in image_infos] + agent_files)),
        ManifestsInfo(
            allowed_contexts = ctx.attr.allowed_contexts,
            deploy_spec = deploy_spec,
            images = image_infos,
            inventory = inventory,
            label = canonical_label(ctx.label),
            yaml = rendered,
        ),
    ]

def _image_spec(ctx, label, info):
    """An image as the deploy spec names it."""
    spec = {
        "digest": _file_ref(ctx, info.digest),
        "label": label,
        "layout": _file_ref(ctx, info.layout),
        "registry": info.registry,
        "repository": info.repository,
    }
    if info.live_update:
        spec["live_update"] = {"binary": info.live_update.binary, "binary_path": info.live_update.binary_path}
    return spec

def _live_agent(ctx, image_infos):
    """The live-update agent's image, when an image has live_update: (spec or None, files to build)."""
    if not [info for info in image_infos if info.live_update]:
        return None, []
    info = ctx.attr._live_agent[ImageInfo]
    return _image_spec(ctx, canonical_label(ctx.attr._live_agent.label), info), [info.layout, info.digest]

def _check_port_forwards(ctx):
    """Fails the analysis on a port_forwards entry of the wrong shape (the dev loop checks the rest)."""
    for local, remote in ctx.attr.port_forwards.items():
        if not local.isdigit() or int(local) < 1 or int(local) > 65535:
            fail("%s: port_forwards key %r: want a local port number (1-65535)" % (ctx.label, local))
        kind_name, _, port = remote.rpartition(":")
        kind, _, name = kind_name.partition("/")
        if not kind or not name or not port:
            fail("%s: port_forwards[%r] = %r: want KIND/NAME:PORT, such as deployment/frontend:8080" % (ctx.label, local, remote))

manifests_rule = rule(
    implementation = _manifests_impl,
    doc = """Kubernetes objects rendered and validated at build time: every container image that
names one of `images` becomes `registry/repository@sha256:...`, namespaced objects without a
namespace get `namespace`, and every object gets `labels`. Outputs `<name>.yaml` and
`<name>.inventory.json` (group, version, kind, namespace, name and content hash of each object).

YAML syntax errors fail the build as `file:line: message`; so do objects missing apiVersion,
kind or metadata.name, objects defined twice, and (with `strict`) container images that match
no image. An image used by no object is a warning.""",
    attrs = {
        "allowed_contexts": attr.string_list(
            doc = """Kubeconfig contexts, beyond the local ones (by name: slipway-local, kind-*,
k3d-*, minikube, docker-desktop, microk8s), that `.apply`, `.delete` and `.diff` may send
requests to. Any other context is refused before any request, whether named with `--context`
or current in the kubeconfig (`.diff` also reads from a context named with `--context`).""",
        ),
        "force_conflicts": attr.bool(
            doc = """Take over fields of these objects that another field manager owns (server-side
apply with force), as `--force-conflicts` does for every target of `dev`, `ci` and `.apply`.
Without it a conflict fails the deploy, naming the fields and their manager, and nothing is
written.""",
            default = False,
        ),
        "images": attr.string_keyed_label_dict(
            doc = """Image references as written in the YAML → `image` targets, e.g.
`{"hello": ":image"}`. `hello`, `hello:anytag` and the target's label itself (`//pkg:image`,
or `:image` in this package) written as a container image all become the image's digest.""",
            providers = [ImageInfo],
        ),
        "labels": attr.string_dict(
            doc = "Labels added to every object and to pod templates (never to selectors).",
        ),
        "namespace": attr.string(
            doc = """Namespace of namespaced objects that set none. `{user}` is replaced by `$USER`
when deploying (e.g. `dev-{user}` gives each developer a namespace); `--namespace` overrides it.""",
        ),
        "port_forwards": attr.string_dict(
            doc = """Local ports the dev loop forwards to this target's workloads while it runs:
local port → `KIND/NAME:PORT`, e.g. `{"8081": "deployment/frontend:8080"}`. KIND is deployment,
statefulset, daemonset, replicaset, service or pod (kubectl's short names work too), in this
target's namespace; PORT is a number or a container port's name (a service port's, for a
service). Each connection goes to a ready pod of the workload at that moment, so forwards keep
working across rollouts, killed pods and API server restarts. Only on 127.0.0.1; `slipway dev
--no-port-forwards` turns them off; `ci` and the run targets ignore them.""",
        ),
        "srcs": attr.label_list(
            doc = """YAML files, each with one or more documents, and `helm_chart` or
`kustomization` targets (their rendered YAML, and their images, which need not be repeated in
`images`).""",
            allow_files = [".yaml", ".yml", ".json"],
            mandatory = True,
        ),
        "strict": attr.bool(
            doc = "Fail when a container image matches none of `images`.",
            default = False,
        ),
        "_live_agent": attr.label(
            default = "//cmd/slipway-agent:image",
            providers = [ImageInfo],
        ),
    } | BUILDER_ATTRS,
)

_COMMANDS = {
    "apply": "Pushes the images, then server-side applies the objects that differ from the cluster, prunes objects this target applied before and no longer renders, and waits for readiness.",
    "delete": "Deletes exactly the objects this target applied (its inventory).",
    "diff": "Prints what `.apply` would change, as a unified diff of live and desired objects.",
    "show": "Prints the rendered YAML as it would be applied.",
}

def _manifests_run_impl(ctx):
    info = ctx.attr.manifests[ManifestsInfo]
    slipway = ctx.executable._slipway
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = launcher,
        content = LAUNCHER_PREAMBLE + 'exec "$RUNFILES_DIR/{slipway}" {command} --spec="$RUNFILES_DIR/{spec}" "$@"\n'.format(
            slipway = rlocation_path(ctx, slipway),
            command = shell_quote(ctx.attr.command),
            spec = rlocation_path(ctx, info.deploy_spec),
        ),
        is_executable = True,
    )
    files = [slipway, info.deploy_spec, info.yaml, info.inventory]
    for image in info.images:
        files.extend([image.layout, image.digest])
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._slipway[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

manifests_run = rule(
    implementation = _manifests_run_impl,
    doc = """A run target of a `manifests` target: `apply`, `diff`, `delete` or `show`.
`bazel run //pkg:deploy.apply -- --help` lists the flags (context, namespace, registry, ...).""",
    attrs = {
        "command": attr.string(
            doc = "`apply`, `diff`, `delete` or `show` (see the `manifests` macro).",
            mandatory = True,
            values = _COMMANDS.keys(),
        ),
        "manifests": attr.label(
            doc = "The `manifests` target.",
            mandatory = True,
            providers = [ManifestsInfo],
        ),
        "_slipway": attr.label(
            default = "//cmd/slipway",
            executable = True,
            cfg = "target",
        ),
    },
    executable = True,
)

MANIFESTS_COMMANDS = _COMMANDS.keys()
