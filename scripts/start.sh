#!/usr/bin/env bash
# `npm start`: install what is missing, then bring up the demo cluster and say what to try.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "ambit: npm start needs root (it creates network namespaces and nftables rules)" >&2
  exit 1
fi
bash scripts/ensure-deps.sh
npx ambitctl local up -f examples/demo "$@"
cat <<'TXT'

Try:
  npx ambitctl local exec -n demo client -- curl -s http://web/            # web calls the api Service
  npx ambitctl local exec -n demo client -- curl -s http://api/            # answered by api-v1 or api-v2
  echo hi | npx ambitctl local exec -n demo client -- nc -N tcp-echo 9000  # raw TCP
  kubectl --kubeconfig "$(npx ambitctl local kubeconfig)" get pods -A -o wide
  npx ambitctl local logs -n demo client
  npx ambitctl local down                                                  # remove everything
TXT
