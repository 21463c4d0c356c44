"""The `image` rule: a reproducible OCI image from Bazel targets."""

load(":builder.bzl", "BUILDER_ATTRS", "run_builder")
load(":platform.bzl", "platform_attrs", "platform_of")
load(":providers.bzl", "ImageInfo")

_COMPRESSIONS = ["gzip", "none"]

_PURE = "@rules_go//go/config:pure"

def _static_binary_transition_impl(settings, attr):
    # Images usually start from scratch, with no libc: Go binaries must not use cgo.
    return {_PURE: True if attr.static else settings[_PURE]}

_static_binary_transition = transition(
    implementation = _static_binary_transition_impl,
    inputs = [_PURE],
    outputs = [_PURE],
)

IMAGE_ATTRS = {
    "annotations": attr.string_dict(
        doc = "Annotations on the image manifest, e.g. `org.opencontainers.image.source`.",
    ),
    "arch": attr.string(
        doc = "The image's architecture (`amd64`, `arm64`, ...). Default: the target platform's CPU.",
    ),
    "base": attr.label(
        doc = """The image to build on: another `image` target, an OCI image layout directory,
or a `docker save` tarball. Default: an empty image (scratch).""",
        allow_files = True,
    ),
    "binary": attr.label(
        doc = """An executable target (e.g. a `go_binary`) placed at `binary_path`, in a layer of
its own so that a change to it rebuilds and pushes that layer only.""",
        executable = True,
        cfg = _static_binary_transition,
    ),
    "binary_path": attr.string(
        doc = "Where `binary` goes in the image. Default: `/app/<binary's target name>`.",
    ),
    "cmd": attr.string_list(
        doc = "Default arguments to the entrypoint.",
    ),
    "compression": attr.string(
        doc = "Compression of the layers slipway builds: `gzip` or `none`.",
        default = "gzip",
        values = _COMPRESSIONS,
    ),
    "entrypoint": attr.string_list(
        doc = "The command the container runs. Default: `[binary_path]` when `binary` is set, else the base's.",
    ),
    "env": attr.string_dict(
        doc = "Environment variables, added to (or replacing) the base's.",
    ),
    "exposed_ports": attr.string_list(
        doc = "Ports the image listens on, e.g. `[\"8080\"]` or `[\"53/udp\"]`.",
    ),
    "file_modes": attr.string_dict(
        doc = "Octal modes of files placed by `files`, keyed by destination path, e.g. `{\"/etc/app/key\": \"0600\"}`.",
    ),
    "files": attr.label_keyed_string_dict(
        doc = """Files to place in the image, in one layer: target → destination path. A target
with one file and a destination not ending in `/` is placed at the destination. Otherwise the
destination is a folder, and subfolders are kept: a file named by its own label (a source
file, or a rule's only output such as a `go_binary`) goes in by its base name
(`{":config/app.json": "/etc/app/"}` places `/etc/app/app.json`); the files of a target that
groups others (a `filegroup`, a rule with several outputs) keep their path relative to their
package, less `files_strip_prefix` (in package `web`,
`filegroup(name = "static", srcs = glob(["static/**"]))` mapped to `/src/` places
`web/static/css/site.css` at `/src/static/css/site.css`, as does mapping it to `/src/static/`
with `files_strip_prefix = "static"`); a directory output (a tree artifact) is placed at the
destination with its shape. Two files placed at one path, or a file where another is placed
as a folder, fail the build naming both. Files get mode 0644 (0755 when executable) unless
`file_modes` says otherwise.""",
        allow_files = True,
    ),
    "files_strip_prefix": attr.string(
        doc = """A folder, relative to each file's package, removed from the paths that files of
grouping targets keep in `files` (e.g. `static` for a glob of `static/**`). A file of such a
target that is not under it fails the build naming the file.""",
    ),
    "image_labels": attr.string_dict(
        doc = "Labels in the image configuration (`LABEL` in a Dockerfile).",
    ),
    "live_update": attr.bool(
        doc = """Let `bazel run //:dev` update `binary` in running containers instead of deploying a
new image when only its sources changed (docs/live-update.md): Bazel builds the binary alone,
the loop copies it into every running container of the deployables' pods through the API
server's exec and a small agent, which restarts the process; pod and image stay. In `dev`
only: the pod templates the loop applies run the image's entrypoint under the agent (an init
container copies it into an emptyDir); the image itself, `ci` and the run targets are
unchanged. Works on scratch images (no shell, no tar needed). Needs `binary`.""",
        default = False,
    ),
    "os": attr.string(
        doc = "The image's operating system. Default: the target platform's OS.",
    ),
    "registry": attr.string(
        doc = """The registry `.push` sends to, e.g. `registry.example.com`. Default: the
`--registry` flag of `.push`, else the cluster's KEP-1755 `local-registry-hosting` ConfigMap.""",
    ),
    "repository": attr.string(
        doc = "The repository within the registry. Default: the package path, plus `/<name>` unless the target is named `image`.",
    ),
    "static": attr.bool(
        doc = """Build `binary` as a static, cgo-free Go binary (rules_go's pure mode), so that it
runs in an image without a libc. Turn off for cgo binaries on a base image that has one.""",
        default = True,
    ),
    "tars": attr.label_list(
        doc = """Tar files (optionally gzipped), one layer each, after the base's layers. Each entry
keeps its content, mode, owner and times, and its name is cleaned and made relative to the
image root (`/etc/x`, `./etc//x` and `etc/x` are one file). An entry outside the root fails
the build naming the tar and the entry: a name or hard link target that climbs above the
root (`../x`), a relative symlink target that climbs above it from the link's folder
(absolute symlink targets are fine: they resolve inside the container), an entry written
through a symlink (or under a file) of the same tar, or one path written twice with
different content.""",
        allow_files = [".tar", ".tar.gz", ".tgz"],
    ),
    "user": attr.string(
        doc = "The user (uid, or uid:gid) the container runs as. Default: the non-root uid 65532.",
        default = "65532",
    ),
    "workdir": attr.string(
        doc = "The working directory of the container.",
    ),
    "_allowlist_function_transition": attr.label(
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
} | BUILDER_ATTRS | platform_attrs()

def default_repository(label):
    """The repository an image is pushed to when its rule does not say.

    Args:
      label: the image target's label.

    Returns:
      `package/path`, plus `/name` unless the target is named `image`; lower case.
    """
    parts = [p for p in [label.workspace_name, label.package] if p]
    if label.name != "image":
        parts.append(label.name)
    repo = "/".join(parts).lower().replace("~", "-").replace("+", "-")
    return repo or "image"

def source_date_epoch(ctx):
    """Seconds since the epoch stamped on every file and the image itself.

    0 unless the user sets SOURCE_DATE_EPOCH with --action_env (the reproducible-builds
    convention); only that one variable is read, so the action keys stay hermetic.

    Args:
      ctx: the rule context.

    Returns:
      An int.
    """
    value = ctx.configuration.default_shell_env.get("SOURCE_DATE_EPOCH", "0")
    if not value.isdigit():
        fail("SOURCE_DATE_EPOCH must be a number of seconds, got %r" % value)
    return int(value)

def _layer(ctx, group, spec, inputs, mtime):
    """Declares the action building one layer; returns (blob, descriptor)."""
    prefix = "%s.layers/%s" % (ctx.label.name, group)
    spec_file = ctx.actions.declare_file(prefix + ".json")
    blob = ctx.actions.declare_file(prefix + ".layer")
    descriptor = ctx.actions.declare_file(prefix + ".descriptor.json")
    spec = dict(spec, group = group, compression = ctx.attr.compression, mtime = mtime)
    ctx.actions.write(spec_file, json.encode(spec))
    run_builder(
        ctx,
        "layer",
        inputs = [spec_file] + inputs,
        outputs = [blob, descriptor],
        flags = ["--spec=" + spec_file.path, "--blob=" + blob.path, "--descriptor=" + descriptor.path],
        mnemonic = "ImageLayer",
        progress = "Building layer %s of %%{label}" % group,
    )
    return struct(blob = blob, descriptor = descriptor)

def _display_label(label):
    """A label as its user writes it: //pkg:name in the main repository."""
    text = str(label)
    for prefix in ["@@//", "@//"]:
        if text.startswith(prefix):
            return "//" + text[len(prefix):]
    return text

def _describe_file(f):
    """A file as its user knows it: its label, or its path and the rule that makes it."""
    if f.is_source:
        return _display_label(f.owner)
    return "%s (made by %s)" % (f.short_path, _display_label(f.owner))

def _parse_mode(dest, text):
    if not text or not all([c in "01234567" for c in text.elems()]):
        fail("attribute file_modes: %r for %s is not an octal mode like \"0644\"" % (text, dest))
    mode = 0
    for c in text.elems():
        mode = mode * 8 + int(c)
    return mode

def _package_relative_path(f):
    """A file's path relative to the package that holds it, or None when it is not in it."""
    path = f.path[len(f.root.path) + 1:] if f.root.path else f.path
    package_dir = "/".join([p for p in [f.owner.workspace_root, f.owner.package] if p])
    if not package_dir:
        return path
    if not path.startswith(package_dir + "/"):
        return None
    return path[len(package_dir) + 1:]

def _relative_placement(ctx, target, f, dest):
    """Where a file of a grouping target goes: dest + its package-relative path, less the prefix."""
    rel = _package_relative_path(f) if f.owner else None
    if rel == None:
        fail("attribute files: %s (from %s) is outside its package %s; name it in files on its own" % (f.short_path, _display_label(target.label), _display_label(f.owner)))
    prefix = ctx.attr.files_strip_prefix.strip("/")
    if prefix:
        if not rel.startswith(prefix + "/"):
            fail("attribute files: %s (from %s) is not under files_strip_prefix %r of its package; move it, name it in files on its own, or change the prefix" % (f.short_path, _display_label(target.label), prefix))
        rel = rel[len(prefix) + 1:]
    return dest.rstrip("/") + "/" + rel

def _placement(ctx, target, files, f, dest):
    """The destination path of one file of a target of the files attribute."""
    if f.is_directory:
        return dest
    if len(files) == 1 and not dest.endswith("/"):
        return dest
    if len(files) == 1 and f.owner == target.label:
        # A file named by its own label: into the folder, by its base name.
        return dest.rstrip("/") + "/" + f.basename
    return _relative_placement(ctx, target, f, dest)

def _files_entries(ctx):
    entries = []
    inputs = []
    placed = {}
    for target, dest in ctx.attr.files.items():
        if not dest.startswith("/"):
            fail("attribute files: destination %r of %s must be an absolute path" % (dest, target.label))
        files = target[DefaultInfo].files.to_list()
        if not files:
            fail("attribute files: %s has no files" % target.label)
        for f in files:
            path = _placement(ctx, target, files, f, dest)
            if path in placed and not f.is_directory:
                fail("attribute files: %s and %s are both placed at %s" % (placed[path], f.short_path, path))
            placed[path] = f.short_path
            entries.append({"src": f.path, "dest": path, "mode": 0})
            inputs.append(f)
    for dest, mode in ctx.attr.file_modes.items():
        if dest not in placed:
            fail("attribute file_modes: %s is not a destination of attribute files (they are: %s)" % (dest, ", ".join(sorted(placed.keys()))))
        for e in entries:
            if e["dest"] == dest:
                e["mode"] = _parse_mode(dest, mode)
    return entries, inputs

def _image_impl(ctx):
    os, arch = platform_of(ctx)
    mtime = source_date_epoch(ctx)
    layers = []

    # Layers in order of how often they change, so edits rebuild and push the last one only.
    for i, tar in enumerate(ctx.files.tars):
        layers.append(_layer(ctx, "tars_%d" % i, {"origin": _describe_file(tar), "tar": tar.path}, [tar], mtime))
    if ctx.attr.files:
        entries, inputs = _files_entries(ctx)
        layers.append(_layer(ctx, "files", {"files": entries}, inputs, mtime))
    binary_path = ""
    live_update = None
    live_outputs = []
    if ctx.attr.live_update and not ctx.attr.binary:
        fail("attribute live_update: needs binary (the executable the dev loop syncs)")
    if ctx.attr.binary:
        # An attribute with a transition holds a list, here of one target.
        binary_target = ctx.attr.binary[0]
        binary = ctx.executable.binary
        if not binary:
            fail("attribute binary: %s is not executable" % binary_target.label)
        binary_path = ctx.attr.binary_path or "/app/" + binary_target.label.name
        if not binary_path.startswith("/"):
            fail("attribute binary_path: %r must be an absolute path" % binary_path)
        layers.append(_layer(ctx, "binary", {"files": [{"dest": binary_path, "executable": True, "mode": 493, "src": binary.path}]}, [binary], mtime))
        if ctx.attr.live_update:
            live_update = struct(binary = _display_label(binary_target.label), binary_path = binary_path)
            live_outputs = [binary]

    base_inputs = []
    base_path = ""
    base_layers = []
    if ctx.attr.base:
        if ImageInfo in ctx.attr.base:
            info = ctx.attr.base[ImageInfo]
            if info.is_index:
                fail("attribute base: %s is an image index; use one of its images" % ctx.attr.base.label)
            base_path = info.layout.path
            base_inputs = [info.layout] + info.layer_descriptors
            base_layers = [d.path for d in info.layer_descriptors]
        else:
            files = ctx.attr.base[DefaultInfo].files.to_list()
            if len(files) != 1:
                fail("attribute base: %s must be an image target, one OCI layout directory or one image tarball; it has %d files" % (ctx.attr.base.label, len(files)))
            base_path = files[0].path
            base_inputs = files

    entrypoint = ctx.attr.entrypoint or ([binary_path] if binary_path else [])
    spec = ctx.actions.declare_file(ctx.label.name + ".image.json")
    ctx.actions.write(spec, json.encode({
        "annotations": ctx.attr.annotations,
        "arch": arch,
        "base": base_path,
        "base_layers": base_layers,
        "config": {
            "cmd": ctx.attr.cmd,
            "entrypoint": entrypoint,
            "env": ctx.attr.env,
            "exposed_ports": ctx.attr.exposed_ports,
            "labels": ctx.attr.image_labels,
            "user": ctx.attr.user,
            "workdir": ctx.attr.workdir,
        },
        "created": mtime,
        "layers": [{"blob": layer.blob.path, "descriptor": layer.descriptor.path} for layer in layers],
        "os": os,
    }))
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    run_builder(
        ctx,
        "image",
        inputs = [spec] + base_inputs + [layer.blob for layer in layers] + [layer.descriptor for layer in layers],
        outputs = [layout, digest],
        flags = ["--spec=" + spec.path, "--layout=" + layout.path, "--digest=" + digest.path],
        mnemonic = "Image",
        progress = "Assembling image %{label}",
    )

    repository = ctx.attr.repository or default_repository(ctx.label)
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    run_builder(
        ctx,
        "tarball",
        inputs = [layout],
        outputs = [tarball],
        flags = ["--layout=" + layout.path, "--tag=" + repository + ":latest", "--out=" + tarball.path],
        mnemonic = "ImageTarball",
        progress = "Writing docker-load tarball of %{label}",
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(
            digest = depset([digest]),
            # The binary alone, as placed in the image: what the dev loop builds to sync it.
            live_binary = depset(live_outputs),
            tarball = depset([tarball]),
        ),
        ImageInfo(
            arch = arch,
            digest = digest,
            is_index = False,
            layer_descriptors = (ctx.attr.base[ImageInfo].layer_descriptors if ctx.attr.base and ImageInfo in ctx.attr.base else []) + [layer.descriptor for layer in layers],
            layout = layout,
            live_update = live_update,
            os = os,
            registry = ctx.attr.registry,
            repository = repository,
        ),
    ]

image_rule = rule(
    implementation = _image_impl,
    doc = """A reproducible OCI image: a base, then one layer per input group (`tars`, `files`,
`binary`), and a configuration. Outputs an OCI image layout directory named after the target
and `<name>.digest`; the output group `tarball` holds a `docker load`-able tarball.

Every file is owned by 0:0, stamped with the epoch (or `SOURCE_DATE_EPOCH` given with
`--action_env`), and written in sorted order, so the same inputs give the same digest on any
machine and in any output path.""",
    attrs = IMAGE_ATTRS,
)
