#!/usr/bin/env bash
# Installs what Ambit needs on a Debian host — only what is missing, so a second run costs nothing:
# Debian packages (network tools, nftables, the CNI reference plugins, test clients) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { # need PACKAGE TEST...
  local pkg=$1; shift
  "$@" >/dev/null 2>&1 || missing+=("$pkg")
}
need iproute2 command -v ip
need nftables command -v nft
need containernetworking-plugins test -x /usr/lib/cni/bridge
need curl command -v curl
need netcat-openbsd command -v nc
need tcpdump command -v tcpdump
need procps command -v ps
# The ztunnel's native addon is built with node-gyp against Node's own headers (/usr/include/node).
need g++ command -v g++
need make command -v make
need python3 command -v python3
# kubectl usually comes with the machine image; Debian's own client is the fallback.
need kubernetes-client command -v kubectl
# Tests only: tshark reads the packet captures that prove traffic between nodes is TLS 1.3; Prometheus scrapes the
# ztunnels in the telemetry test.
if [ "${1:-}" = --test ]; then
  need tshark command -v tshark
  need prometheus command -v prometheus
fi
# Benchmarks only (bench/l4.bench.ts): the load generators and the HAProxy peer, with nginx as the app.
if [ "${1:-}" = --bench ]; then
  need nghttp2-client command -v h2load
  need iperf3 command -v iperf3
  need haproxy command -v haproxy
  need nginx-light command -v nginx
  need openssl command -v openssl
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ambit: missing Debian packages: ${missing[*]} — run as root (or: apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "ambit: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package may start a service here (prometheus ships one): policy-rc.d refuses every start during the install.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# npm ci when node_modules is absent or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ambit: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >/dev/null
fi

# npm 11 runs no install scripts, and a native build would need --nodedir anyway: build the addon here, offline,
# whenever it is missing or older than its sources.
addon=ztunnel/build/Release/ambit_netns.node
if [ ! -f "$addon" ] || [ -n "$(find ztunnel/native ztunnel/binding.gyp -newer "$addon")" ]; then
  echo "ambit: building the ztunnel native addon" >&2
  npm run build:native -w @ambit/ztunnel --silent >/dev/null
fi

# The CNI plugin runs on every pod start: a C front end plus the plugin bundled for plain node (no tsx). Offline.
plugin=cni/bin/ambit-cni
if [ ! -f "$plugin" ] || [ ! -f cni/bin/ambit-cni-node ] || [ -n "$(find cni/src/plugin cni/native core/src/errors.ts cni/scripts/build-plugin.mjs -newer "$plugin")" ]; then
  echo "ambit: building the CNI plugin" >&2
  node cni/scripts/build-plugin.mjs
fi

# ztunnel runs from a bundle with plain node (the local runner falls back to tsx while it is stale). Offline.
bundle=ztunnel/build/bundle/ztunnel.mjs
if [ ! -f "$bundle" ] || [ -n "$(find ztunnel/src core/src ztunnel/scripts/build-bundle.mjs package-lock.json -newer "$bundle" | head -1)" ]; then
  echo "ambit: bundling ztunnel" >&2
  node ztunnel/scripts/build-bundle.mjs
fi
