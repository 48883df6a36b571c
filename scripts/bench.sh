#!/usr/bin/env bash
# `npm run bench [-- NAME...]`: benchmarks (not tests). Each prints its numbers with the baseline measured in the same
# run. With names (e.g. `npm run bench -- l4`), only bench/NAME.bench.ts runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --bench
source scripts/node-env.sh
echo "ambit: benchmarking on Node $(node --version)"
shopt -s nullglob
if [ $# -gt 0 ]; then
  benches=()
  for name in "$@"; do
    if [ ! -f "bench/$name.bench.ts" ]; then
      echo "no benchmark bench/$name.bench.ts (have: $(cd bench && ls *.bench.ts | sed 's/.bench.ts//' | tr '\n' ' '))" >&2
      exit 2
    fi
    benches+=("bench/$name.bench.ts")
  done
else
  benches=(bench/*.bench.ts)
fi
if [ ${#benches[@]} -eq 0 ]; then
  echo "no benchmarks yet (they arrive with the controller and ztunnel issues)"
  exit 0
fi
for b in "${benches[@]}"; do
  echo "== $b"
  node --import tsx "$b"
done
