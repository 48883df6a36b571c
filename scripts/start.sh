#!/usr/bin/env bash
# `npm start`: install what is missing, then bring up the demo cluster and say what to try.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "ambit: npm start needs root (it creates network namespaces and nftables rules)" >&2
  exit 1
fi
bash scripts/ensure-deps.sh
source scripts/node-env.sh
echo "ambit: running on Node $(node --version) ($(node -p process.execPath))"
npx ambitctl local up -f examples/demo "$@"
cat <<'TXT'

Try:
  npx ambitctl local exec -n demo client -- curl -s http://web/            # web calls the api Service
  npx ambitctl local exec -n demo client -- curl -s http://api/            # answered by api-v1 or api-v2
  echo hi | npx ambitctl local exec -n demo client -- nc -N tcp-echo 9000  # raw TCP
  kubectl --kubeconfig "$(npx ambitctl local kubeconfig)" get pods -A -o wide
  npx ambitctl local logs -n demo client
The demo namespace is meshed: every connection above crosses the nodes as mutual TLS (HBONE). See it:
  npx ambitctl local node-exec node2 -- tcpdump -i eth0 -nn -A --immediate-mode tcp   # only TLS to port 15008
  kubectl --kubeconfig "$(npx ambitctl local kubeconfig)" logs -n ambit-system -l app=ztunnel --prefix | grep '"direction":"inbound"'  # caller identities
  npx ambitctl ztunnel-config certificates                                 # workload certificates per node
  npx ambitctl local node-exec node1 -- curl -s 127.0.0.1:15020/metrics    # Istio's istio_tcp_* metrics
  npx ambitctl local down                                                  # remove everything
TXT
