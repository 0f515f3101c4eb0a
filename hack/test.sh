#!/usr/bin/env bash
# Runs every package's tests for make test. The e2e package runs in its
# own `go test` beside the one for all other packages: it spends most of
# its time waiting on containers, probes and grace periods, and within a
# single `go test ./...` its run would start only once most other
# packages were compiled and tested, making it the long tail of the
# whole suite. Its output is printed after the others'. go vet runs
# (make vet) while the e2e package has started.
set -uo pipefail

timeout=${TEST_TIMEOUT:-30m}
flags=(-count=1 -timeout "$timeout" -vet=off) # make vet runs below

e2e=github.com/flotilla-io/flotilla/test/e2e
mapfile -t others < <(go list ./... | grep -vx "$e2e")

e2e_log=$(mktemp)
# In its own session, so that an early exit stops the test binary and
# its clusters too, not only go test.
trap 'rm -f "$e2e_log"; [ -n "${e2e_pid:-}" ] && kill -- "-$e2e_pid" 2>/dev/null' EXIT
setsid -w go test "${flags[@]}" "$e2e" >"$e2e_log" 2>&1 &
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
