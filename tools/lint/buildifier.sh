#!/usr/bin/env bash
# buildifier.sh BUILDIFIER_RLOCATIONPATH check|fix
# Runs buildifier over every Starlark file of the workspace this target belongs to.
set -euo pipefail
runfiles=${RUNFILES_DIR:-${TEST_SRCDIR:-$0.runfiles}}
buildifier=$runfiles/$1
if [ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]; then
	workspace=$BUILD_WORKSPACE_DIRECTORY
else
	# Under `bazel test` the runfiles link to the source tree: follow MODULE.bazel home.
	workspace=$(dirname "$(readlink -f "$runfiles/_main/MODULE.bazel")")
fi
cd "$workspace"
case $2 in
check)
	if ! "$buildifier" -mode=check -lint=warn -r .; then
		echo "Starlark is not formatted or has lint warnings; fix with: bazel run //tools/lint:fix" >&2
		exit 1
	fi
	;;
fix) exec "$buildifier" -mode=fix -lint=fix -r . ;;
*)
	echo "usage: buildifier.sh BUILDIFIER check|fix" >&2
	exit 2
	;;
esac
