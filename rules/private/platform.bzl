"""Mapping the target platform's constraints to OCI os/arch values."""

# OCI os and architecture values slipway knows, keyed by Bazel constraint value.
OS_CONSTRAINTS = {
    "linux": "@platforms//os:linux",
    "darwin": "@platforms//os:macos",
    "windows": "@platforms//os:windows",
    "freebsd": "@platforms//os:freebsd",
}

ARCH_CONSTRAINTS = {
    "amd64": "@platforms//cpu:x86_64",
    "arm64": "@platforms//cpu:aarch64",
    "arm": "@platforms//cpu:armv7",
    "386": "@platforms//cpu:x86_32",
    "ppc64le": "@platforms//cpu:ppc64le",
    "s390x": "@platforms//cpu:s390x",
    "riscv64": "@platforms//cpu:riscv64",
}

def platform_attrs():
    """Private attributes holding the constraint values platform_of() checks.

    Returns:
      A dict of attribute name to attr.label.
    """
    attrs = {}
    for name, label in OS_CONSTRAINTS.items():
        attrs["_os_" + name] = attr.label(default = label)
    for name, label in ARCH_CONSTRAINTS.items():
        attrs["_arch_" + name] = attr.label(default = label)
    return attrs

def platform_of(ctx):
    """The OCI os and architecture of the image, from attributes or the target platform.

    Args:
      ctx: a rule context whose rule has platform_attrs() and `os`/`arch` attributes.

    Returns:
      A (os, arch) tuple.
    """
    os = ctx.attr.os
    arch = ctx.attr.arch
    if os and os not in OS_CONSTRAINTS:
        fail("attribute os: %r is not an OS slipway knows (want one of: %s)" % (os, ", ".join(OS_CONSTRAINTS.keys())))
    if arch and arch not in ARCH_CONSTRAINTS:
        fail("attribute arch: %r is not an architecture slipway knows (want one of: %s)" % (arch, ", ".join(ARCH_CONSTRAINTS.keys())))
    if not os:
        for name in OS_CONSTRAINTS:
            if ctx.target_platform_has_constraint(getattr(ctx.attr, "_os_" + name)[platform_common.ConstraintValueInfo]):
                os = name
                break
    if not arch:
        for name in ARCH_CONSTRAINTS:
            if ctx.target_platform_has_constraint(getattr(ctx.attr, "_arch_" + name)[platform_common.ConstraintValueInfo]):
                arch = name
                break
    if not os or not arch:
        fail("the target platform has no OS or CPU constraint slipway knows; set the os and arch attributes")
    return os, arch
