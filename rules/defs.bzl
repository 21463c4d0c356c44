"""Public API of slipway's rules."""

load("//rules/private:dev.bzl", _dev = "dev")

dev = _dev
