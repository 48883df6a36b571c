#!/usr/bin/env bash
# `npm test`: install what is missing, type-check, lint, check formatting, then run every test: pure unit files two at a time,
# then the files that touch the machine one at a time (integration tests build whole clusters); the leftovers check runs last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --test
source scripts/node-env.sh
echo "ambit: testing on Node $(node --version) ($(node -p process.execPath))"
npx tsc -b
npx eslint --max-warnings 0 .
# Formatting is prettier's (.prettierrc.json, width 140); `npm run format` fixes what this reports.
npx prettier --check --log-level warn .
mapfile -t unit < <(find core controller ztunnel waypoint local cli cni bench -path '*/node_modules' -prune -o -name '*.test.ts' -print | sort)
mapfile -t repo < <(find test/repo -name '*.test.ts' -print | sort)
mapfile -t integration < <(find test/integration -name '*.test.ts' ! -name 'zz-*' -print | sort)
# Unit files that touch the machine (network namespaces, processes in them, a local cluster, root) run one at a time
# with the integration files; the rest (pure logic, sockets on 127.0.0.1 port 0) two at a time, which keeps the suite
# under 15 minutes on two cores. The pattern is deliberately broad: a file wrongly called "machine" only runs later.
machine='requirePrivileges|netns|LocalCluster|createPodSandbox|Kubelet|startContainer|nsenter|unshare|ambit-tests|/run/ambit|process\.getuid|setns|startCluster'
mapfile -t unit_machine < <(grep -l -E "$machine" "${unit[@]}")
mapfile -t unit_pure < <(grep -L -E "$machine" "${unit[@]}")
status=0
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${repo[@]}" "${unit_pure[@]}" || status=$?
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  "${unit_machine[@]}" "${integration[@]}" test/integration/zz-leftovers.test.ts || status=$?
exit "$status"
