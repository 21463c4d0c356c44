"""Public API of slipway's rules: reproducible OCI images, Kubernetes manifests, and the dev loop.

```starlark
load("@slipway//rules:defs.bzl", "dev", "helm_chart", "image", "image_index", "kustomization", "manifests")
```
"""

load("//rules/private:dev.bzl", _dev = "dev", _dev_rule = "dev_rule")
load("//rules/private:helm.bzl", _helm_chart_rule = "helm_chart_rule")
load("//rules/private:image.bzl", _image_rule = "image_rule")
load("//rules/private:index.bzl", _image_index_rule = "image_index_rule")
load("//rules/private:kustomize.bzl", _kustomization_rule = "kustomization_rule")
load("//rules/private:manifests.bzl", _MANIFESTS_COMMANDS = "MANIFESTS_COMMANDS", _manifests_rule = "manifests_rule", _manifests_run = "manifests_run")
load("//rules/private:providers.bzl", _ImageInfo = "ImageInfo", _ManifestsInfo = "ManifestsInfo", _RenderedYamlInfo = "RenderedYamlInfo")
load("//rules/private:push.bzl", _image_push = "image_push")

ImageInfo = _ImageInfo
ManifestsInfo = _ManifestsInfo
RenderedYamlInfo = _RenderedYamlInfo
dev = _dev
dev_rule = _dev_rule
helm_chart_rule = _helm_chart_rule
image_rule = _image_rule
image_index_rule = _image_index_rule
image_push = _image_push
kustomization_rule = _kustomization_rule
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

def helm_chart(name, values = [], user_values = None, **kwargs):
    """A Helm chart rendered at build time; give it to a `manifests` target's `srcs`.

    ```starlark
    helm_chart(
        name = "chart",
        chart = "chart/Chart.yaml",
        srcs = glob(["chart/**"]),
        values = ["values-dev.yaml"],
        user_values = "values-user.yaml",  # each developer's own, not checked in
        images = {"image": ":image"},
        namespace = "shop-{user}",
    )
    manifests(name = "deploy", srcs = [":chart"], namespace = "shop-{user}")
    ```

    Args:
      name: the target's name (and the default release name).
      values: values files layered in order over the chart's `values.yaml`.
      user_values: a values file layered last when it exists in the package (e.g. a
        developer's own, ignored by version control); no error when it does not.
      **kwargs: attributes of `helm_chart_rule`.
    """
    if user_values:
        values = values + native.glob([user_values], allow_empty = True)
    _helm_chart_rule(name = name, values = values, **kwargs)

def kustomization(name, **kwargs):
    """A kustomization built at build time; give it to a `manifests` target's `srcs`.

    ```starlark
    kustomization(
        name = "dev_overlay",
        dir = "k8s/overlays/dev",
        srcs = glob(["k8s/**"]),
        images = {"worker": ":image"},
    )
    manifests(name = "deploy", srcs = [":dev_overlay"], namespace = "shop-{user}")
    ```

    Args:
      name: the target's name.
      **kwargs: attributes of `kustomization_rule`.
    """
    _kustomization_rule(name = name, **kwargs)
