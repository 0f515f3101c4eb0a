#!/usr/bin/env bash
# Runs every package's tests for make test. The e2e package runs in its
# own `go test` beside the one for all other packages: it spends most of
# its time waiting on containers, probes and grace periods, and within a
# single `go test ./...` its run would start only once most other
# packages were compiled and tested, making it the long tail of the
# whole suite. Its output is printed after the others'. go vet runs
# (make vet) while the e2e package has started.
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

e2e=github.com/flotilla-io/flotilla/test/e2e
mapfile -t others < <(go list ./... | grep -vx "$e2e")

e2e_log=$(mktemp)
# In its own session, so that an early exit stops the test binary and
# its clusters too, not only go test.
trap 'rm -f "$e2e_log"; [ -n "${e2e_pid:-}" ] && kill -- "-$e2e_pid" 2>/dev/null' EXIT
# Its cluster-starting tests run side by side (see test/e2e's package
# comment); they mostly wait, so more of them than this machine's cores.
setsid -w go test "${flags[@]}" -parallel "${E2E_PARALLEL:-4}" "$e2e" >"$e2e_log" 2>&1 &
e2e_pid=$!

# go vet and gofmt (make vet) first; a finding ends the run at once.
"${MAKE:-make}" --no-print-directory vet || exit 1

go test "${flags[@]}" "${others[@]}"
others_rc=$?

wait "$e2e_pid"
e2e_rc=$?
e2e_pid=
cat "$e2e_log"
[ "$others_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ]
