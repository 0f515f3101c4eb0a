#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time each.
set -euo pipefail
time=${1:-30s}
# One go list for all packages: a call per package costs about a minute.
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
  for fn in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $fn ($time)"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$time" "$pkg" </dev/null
  done
done
