# Both targets set up what they need on a fresh machine (Bazel included).
#   make dev   the dev loop over examples/, against a local cluster and registry that it
#              starts itself when no cluster is configured
#   make test  every test: formatting, vet, staticcheck, Go unit tests, Bazel tests, end-to-end tests

SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local
export GOWORK := off
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: dev test bazel bench

dev: bazel
	bazel run //:dev

test: bazel
	go run ./tools/check

# Benchmarks (bench/README.md): numbers and ratios, not tests; nothing asserts.
bench: bazel
	bench/run all

bazel:
	tools/install-bazel
