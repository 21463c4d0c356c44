"""Providers shared by slipway's rules."""

ImageInfo = provider(
    doc = "An OCI image (or image index) built by slipway's rules.",
    fields = {
        "arch": "string: the image's architecture (empty for an index).",
        "digest": "File: the manifest (or index) digest, `sha256:...`.",
        "is_index": "bool: whether `layout` holds an image index.",
        "layer_descriptors": "list of File: descriptors of the layers slipway built, base first.",
        "layout": "File: a directory holding the OCI image layout.",
        "live_update": "struct(binary, binary_path) or None: the executable's label and container path, when `live_update` is set.",
        "os": "string: the image's operating system (empty for an index).",
        "registry": "string: the registry `.push` sends to by default (empty: ask the flag or the cluster).",
        "repository": "string: the repository within the registry, e.g. `examples/hello`.",
    },
)

ManifestsInfo = provider(
    doc = "Rendered Kubernetes manifests and what deploying them needs.",
    fields = {
        "allowed_contexts": "list of string: kubeconfig contexts beyond the local ones that deploys may write to.",
        "deploy_spec": "File: JSON naming the rendered YAML, the inventory and the images' layouts, read by slipway.",
        "images": "list of ImageInfo: the images the manifests deploy.",
        "inventory": "File: JSON listing each object (group, version, kind, namespace, name, content hash) and image.",
        "label": "string: the manifests target's label.",
        "yaml": "File: the rendered multi-document YAML.",
    },
)

RenderedYamlInfo = provider(
    doc = """YAML rendered from a Helm chart or a kustomization, and the images it refers to. A
`manifests` target whose `srcs` name such a target takes both: the images need not be listed
again in its `images`.""",
    fields = {
        "images": "list of struct(label, info, ref): image target Label, its ImageInfo, and the reference (`registry/repository`, without tag or digest) the rendered YAML names it by.",
        "yaml": "File: the rendered multi-document YAML.",
    },
)
