#!/usr/bin/env bash
# Runs every Go fuzz target of the project, one after another, for FUZZTIME each (default 60s).
# Targets are found by name (func FuzzXxx in *_test.go). A crasher makes the run fail; Go keeps
# it under the package's testdata/fuzz/<Target>/ so that it becomes a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
failed=0
count=0
t0=$SECONDS
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  count=$((count + 1))
  echo "fuzz: $pkg $name ($fuzztime)"
  log=$(mktemp)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" "$pkg" >"$log" 2>&1; then
    tail -n 3 "$log"
  else
    tail -n 40 "$log"
    echo "fuzz: $pkg $name FAILED" >&2
    failed=$((failed + 1))
  fi
  rm -f "$log"
done < <(grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed 's|^\./||; s|:func |:|' | sort)
echo "fuzz: $count targets, $failed failed, $((SECONDS - t0)) s"
[ "$failed" -eq 0 ]
