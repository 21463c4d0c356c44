"""The `image_index` rule: one image built for several platforms."""

load(":builder.bzl", "BUILDER_ATTRS", "run_builder")
load(":image.bzl", "default_repository")
load(":providers.bzl", "ImageInfo")

def _platforms_transition_impl(_settings, attr):
    return {str(p): {"//command_line_option:platforms": str(p)} for p in attr.platforms}

_platforms_transition = transition(
    implementation = _platforms_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _image_index_impl(ctx):
    if not ctx.attr.platforms:
        fail("attribute platforms: list at least one platform")
    images = ctx.split_attr.image
    layouts = [images[key][ImageInfo].layout for key in sorted(images.keys())]
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    run_builder(
        ctx,
        "index",
        inputs = layouts,
        outputs = [layout, digest],
        flags = ["--image=" + dir.path for dir in layouts] + ["--layout=" + layout.path, "--digest=" + digest.path],
        mnemonic = "ImageIndex",
        progress = "Assembling image index %{label}",
    )
    first = images[sorted(images.keys())[0]][ImageInfo]
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(digest = depset([digest])),
        ImageInfo(
            arch = "",
            digest = digest,
            is_index = True,
            layer_descriptors = [],
            layout = layout,
            live_update = None,
            os = "",
            registry = ctx.attr.registry or first.registry,
            repository = ctx.attr.repository or default_repository(ctx.label),
        ),
    ]

image_index_rule = rule(
    implementation = _image_index_impl,
    doc = """An OCI image index: the same `image` target built once per platform (through a
platform transition, so `go_binary` cross-compiles), e.g. for `linux/amd64` and `linux/arm64`.
Outputs an OCI image layout directory holding the index, and `<name>.digest`.""",
    attrs = {
        "image": attr.label(
            doc = "The `image` target to build for each platform.",
            mandatory = True,
            providers = [ImageInfo],
            cfg = _platforms_transition,
        ),
        "platforms": attr.label_list(
            doc = "The platforms to build for, e.g. `@rules_go//go/toolchain:linux_arm64`.",
            mandatory = True,
        ),
        "registry": attr.string(
            doc = "The registry `.push` sends to. Default: the image's.",
        ),
        "repository": attr.string(
            doc = "The repository within the registry. Default: as for `image`, from this target's label.",
        ),
    } | BUILDER_ATTRS,
)
