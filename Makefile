# Both targets set up what they need on a fresh machine (Bazel included).
#   make dev   the dev loop over examples/, against a local cluster and registry that it
#              starts itself when no cluster is configured
#   make test  every test: formatting, vet, staticcheck, Go unit tests, Bazel tests, end-to-end tests

SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local
export GOWORK := off
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: dev test bazel bench

# The local cluster starts on the host first: tools/install-bazel's Bazel runs inside a
# Debian root, where the real node's network setup (`ip -n`) cannot remount /.
dev: bazel
	go run ./cmd/slipway cluster up
	bazel run //:dev

test: bazel
	go run ./tools/check

# Benchmarks (bench/README.md): numbers and ratios, not tests; nothing asserts.
bench: bazel
	bench/run all

bazel:
	tools/install-bazel
