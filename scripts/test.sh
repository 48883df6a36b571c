#!/usr/bin/env bash
# `npm test`: install what is missing, type-check, lint, check formatting, then run every test in one node:test run so the summary
# counts them all. Files run one at a time (integration tests build whole clusters); the leftovers check runs last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --test
source scripts/node-env.sh
echo "ambit: testing on Node $(node --version) ($(node -p process.execPath))"
npx tsc -b
npx eslint --max-warnings 0 .
# Formatting is prettier's (.prettierrc.json, width 140); `npm run format` fixes what this reports.
npx prettier --check --log-level warn .
mapfile -t unit < <(find core controller ztunnel waypoint local cli cni -path '*/node_modules' -prune -o -name '*.test.ts' -print | sort)
mapfile -t repo < <(find test/repo -name '*.test.ts' -print | sort)
mapfile -t integration < <(find test/integration -name '*.test.ts' ! -name 'zz-*' -print | sort)
exec node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  "${repo[@]}" "${unit[@]}" "${integration[@]}" test/integration/zz-leftovers.test.ts
