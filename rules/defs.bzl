"""Public API of slipway's rules: reproducible OCI images, Kubernetes manifests, and the dev loop.

```starlark
load("@slipway//rules:defs.bzl", "dev", "image", "image_index", "manifests")
```
"""

load("//rules/private:dev.bzl", _dev = "dev", _dev_rule = "dev_rule")
load("//rules/private:image.bzl", _image_rule = "image_rule")
load("//rules/private:index.bzl", _image_index_rule = "image_index_rule")
load("//rules/private:manifests.bzl", _MANIFESTS_COMMANDS = "MANIFESTS_COMMANDS", _manifests_rule = "manifests_rule", _manifests_run = "manifests_run")
load("//rules/private:providers.bzl", _ImageInfo = "ImageInfo", _ManifestsInfo = "ManifestsInfo")
load("//rules/private:push.bzl", _image_push = "image_push")

ImageInfo = _ImageInfo
ManifestsInfo = _ManifestsInfo
dev = _dev
dev_rule = _dev_rule
image_rule = _image_rule
image_index_rule = _image_index_rule
image_push = _image_push
manifests_rule = _manifests_rule
manifests_run = _manifests_run

def image(name, visibility = None, tags = None, testonly = None, push_tags = None, **kwargs):
    """A reproducible OCI image, and its `.push` and `.tar` targets.

    Creates `name` (an `image_rule`: see its attributes), `name.push` (an `image_push`:
    `bazel run` it to push) and `name.tar` (a `docker load`-able tarball, built on demand).

    Args:
      name: the image target's name.
      visibility: visibility of the targets.
      tags: tags of the targets.
      testonly: testonly of the targets.
      push_tags: tags `name.push` points at the pushed digest.
      **kwargs: attributes of `image_rule`.
    """
    common = {"tags": tags, "testonly": testonly, "visibility": visibility}
    _image_rule(name = name, **dict(common, **kwargs))
    _image_push(name = name + ".push", image = name, tags_to_push = push_tags or [], **common)
    native.filegroup(name = name + ".tar", srcs = [name], output_group = "tarball", **common)

def image_index(name, visibility = None, tags = None, testonly = None, push_tags = None, **kwargs):
    """An OCI image index of one image built for several platforms, and its `.push` target.

    Creates `name` (an `image_index_rule`: see its attributes) and `name.push`.

    Args:
      name: the index target's name.
      visibility: visibility of the targets.
      tags: tags of the targets.
      testonly: testonly of the targets.
      push_tags: tags `name.push` points at the pushed digest.
      **kwargs: attributes of `image_index_rule`.
    """
    common = {"tags": tags, "testonly": testonly, "visibility": visibility}
    _image_index_rule(name = name, **dict(common, **kwargs))
    _image_push(name = name + ".push", image = name, tags_to_push = push_tags or [], **common)

def manifests(name, visibility = None, tags = None, testonly = None, **kwargs):
    """Rendered Kubernetes manifests, and their `.apply`, `.diff`, `.delete` and `.show` targets.

    Creates `name` (a `manifests_rule`: see its attributes) and one `manifests_run` target per
    command: `bazel run //pkg:name.apply` deploys, `.diff` shows what that would change,
    `.delete` removes what it deployed, `.show` prints the YAML as it would be applied.

    Args:
      name: the manifests target's name.
      visibility: visibility of the targets.
      tags: tags of the targets.
      testonly: testonly of the targets.
      **kwargs: attributes of `manifests_rule`.
    """
    common = {"tags": tags, "testonly": testonly, "visibility": visibility}
    _manifests_rule(name = name, **dict(common, **kwargs))
    for command in _MANIFESTS_COMMANDS:
        _manifests_run(name = name + "." + command, command = command, manifests = name, **common)
