#!/usr/bin/env bash
# Runs every package's tests for make test. Two packages run in go tests
# of their own beside the one for all other packages, because they spend
# most of their time waiting, not computing: e2e (containers, probes,
# grace periods) and integration (in-process servers on embedded etcd).
# Within a single `go test ./...` each would start only once most other
# packages were compiled and tested, and be the long tail of the whole
# suite. e2e starts first, beside go vet (make vet); integration once vet
# has passed. Their output is printed after the others'.
set -uo pipefail

# The build cache and the tests' clusters (containerd's image stores,
# etcd's data) need room: a full disk fails every package at once with
# "no space left on device", far from the cause.
need_gib=${TEST_FREE_GIB:-10}
for dir in "$(go env GOCACHE)" "${TMPDIR:-/tmp}"; do
	free_kib=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
	if [ "$free_kib" -lt $((need_gib * 1024 * 1024)) ]; then
		echo "make test needs ${need_gib} GiB free for $dir; it has $((free_kib / 1024 / 1024)) GiB (go clean -cache frees the build cache)" >&2
		exit 1
	fi
done

timeout=${TEST_TIMEOUT:-30m}
flags=(-count=1 -timeout "$timeout" -vet=off) # make vet runs below

mod=github.com/flotilla-io/flotilla
e2e=$mod/test/e2e
integration=$mod/test/integration
mapfile -t others < <(go list ./... | grep -vx -e "$e2e" -e "$integration")

logs=$(mktemp -d)
pids=()
# Each in its own session, so that an early exit stops its test binary
# and the clusters it started too, not only go test.
trap 'for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done; rm -rf "$logs"' EXIT
background() { # name, then go test's arguments
	local name=$1
	shift
	setsid -w go test "${flags[@]}" "$@" >"$logs/$name" 2>&1 &
	pids+=($!)
}

# Its cluster-starting tests run side by side (see test/e2e's package
# comment); they mostly wait, so more of them than this machine's cores.
background e2e -parallel "${E2E_PARALLEL:-4}" "$e2e"

# go vet and gofmt (make vet) first; a finding ends the run at once.
"${MAKE:-make}" --no-print-directory vet || exit 1

background integration "$integration"

go test "${flags[@]}" "${others[@]}"
rc=$?

for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
pids=()
cat "$logs/integration" "$logs/e2e"
exit "$rc"
