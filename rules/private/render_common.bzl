"""What helm_chart and kustomization share: image entries for the render specs."""

load(":manifests.bzl", "canonical_label")
load(":providers.bzl", "ImageInfo")

# Registry host of images whose registry is decided when deploying; equals
# UnknownRegistry in internal/render and internal/manifest.
UNKNOWN_REGISTRY = "registry.slipway.invalid"

def render_images(images):
    """Image entries of a render spec, and the images for RenderedYamlInfo.

    Args:
      images: dict of key (Helm value path or Kustomize image name) → image Target.

    Returns:
      (spec entries, list of struct(label, info, ref), digest files).
    """
    entries, rendered, digests = [], [], []
    for key in sorted(images.keys()):
        target = images[key]
        info = target[ImageInfo]
        ref = (info.registry or UNKNOWN_REGISTRY) + "/" + info.repository
        entries.append({
            "digest_file": info.digest.path,
            "key": key,
            "label": canonical_label(target.label),
            "registry": info.registry,
            "repository": info.repository,
        })
        rendered.append(struct(label = target.label, info = info, ref = ref))
        digests.append(info.digest)
    return entries, rendered, digests

def file_entries(files):
    return [{"name": f.short_path, "path": f.path} for f in files]
