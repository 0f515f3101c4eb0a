#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time each.
set -euo pipefail
time=${1:-30s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# reproducers lists the failing inputs the fuzzer has written for a target.
reproducers() { ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true; }

# fuzz runs one target. Go 1.26's fuzz coordinator can fail a target with
# a bare "context deadline exceeded" when -fuzztime runs out while a
# worker is still busy (go.dev/issue/75804, fixed in Go 1.27); it found
# nothing then and writes no failing input. Such a run is repeated once;
# any other failure, one that wrote an input, or the same flake twice in
# a row fails.
fuzz() {
  local pkg=$1 dir=$2 fn=$3 attempt before
  for attempt in 1 2; do
    echo "fuzz $pkg $fn ($time)"
    before=$(reproducers "$dir" "$fn")
    if go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$time" "$pkg" </dev/null 2>&1 | tee "$out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
      return 0
    fi
    if [ "$attempt" = 1 ] && [ "$(reproducers "$dir" "$fn")" = "$before" ] &&
      grep -qx '    context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
      echo "fuzz $pkg $fn: the Go fuzz coordinator's deadline race (go.dev/issue/75804), no input written; once more"
      continue
    fi
    return 1
  done
  return 1
}

# One go list for all packages: a call per package costs about a minute.
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
  for fn in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    fuzz "$pkg" "$dir" "$fn"
  done
done
