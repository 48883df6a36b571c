#!/usr/bin/env bash
# `npm run bench`: benchmarks (not tests). Each prints its numbers with the baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
shopt -s nullglob
benches=(bench/*.bench.ts)
if [ ${#benches[@]} -eq 0 ]; then
  echo "no benchmarks yet (they arrive with the controller and ztunnel issues)"
  exit 0
fi
for b in "${benches[@]}"; do
  echo "== $b"
  node --import tsx "$b"
done
