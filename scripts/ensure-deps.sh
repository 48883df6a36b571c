#!/usr/bin/env bash
# Installs what Ambit needs on a Debian host — only what is missing, so a second run costs nothing: the Debian packages
# of scripts/debian-packages.txt (scope `run`, plus `test` with --test, and `test` and `bench` with --bench: the
# benchmarks run on the tests' helpers and tools, tshark among them), the npm dependencies
# (which bring Node 24, see scripts/node-env.sh), the native addon, the CNI plugin and the component bundles.
# Usage: scripts/ensure-deps.sh [--test|--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

scopes=" run "
case "${1:-}" in
  --test) scopes+="test " ;;
  --bench) scopes+="test bench " ;;
  "") ;;
  *) echo "usage: scripts/ensure-deps.sh [--test|--bench]" >&2; exit 2 ;;
esac

# A package is missing when one of its listed executables is not there (a Python module's file, *.py: not present).
missing=()
while read -r pkg scope exes; do
  case "$pkg" in ''|'#'*) continue ;; esac
  [[ "$scopes" == *" $scope "* ]] || continue
  for exe in $exes; do
    case "$exe" in
      *.py) [ -f "$exe" ] || { missing+=("$pkg"); break; } ;;
      *) [ -x "$exe" ] || { missing+=("$pkg"); break; } ;;
    esac
  done
done < scripts/debian-packages.txt

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

# npm ci when node_modules is absent or older than the lockfile. It runs on whatever npm the machine has; the Node
# that Ambit then runs on is the one it installs.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ambit: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >/dev/null
fi
source scripts/node-env.sh

# npm 11 runs no install scripts, and a native build would need --nodedir anyway: build the addon here, offline,
# against the headers of the Node it runs in, whenever it is missing, older than its sources or built for another Node.
addon=ztunnel/build/Release/ambit_netns.node
addon_node=ztunnel/build/node-version
if [ ! -f "$addon" ] || [ "$(cat "$addon_node" 2>/dev/null)" != "$(node --version)" ] ||
  [ -n "$(find ztunnel/native ztunnel/binding.gyp -newer "$addon")" ]; then
  echo "ambit: building the ztunnel native addon for Node $(node --version)" >&2
  npm run build:native -w @ambit/ztunnel --silent >/dev/null
  node --version > "$addon_node"
fi

# The CNI plugin runs on every pod start: a C front end plus the plugin bundled for plain node (no tsx). Offline.
plugin=cni/bin/ambit-cni
if [ ! -f "$plugin" ] || [ ! -f cni/bin/ambit-cni-node ] || [ "$(head -1 cni/bin/ambit-cni-node)" != "#!$(node -p process.execPath)" ] ||
  [ -n "$(find cni/src/plugin cni/native core/src/errors.ts core/src/fields cni/scripts/build-plugin.mjs -newer "$plugin")" ]; then
  echo "ambit: building the CNI plugin" >&2
  node cni/scripts/build-plugin.mjs
fi

# Every component runs from a bundle with plain node (scripts/build-bundle.mjs; deploy/image/ambit runs them), rebuilt
# when a source it is built from is newer. Offline.
bundle_component() { # component package (its sources: package/src)
  local bundle="$2/build/bundle/$1.mjs"
  if [ ! -f "$bundle" ] || [ -n "$(find "$2/src" "$2/package.json" core/src scripts/build-bundle.mjs package-lock.json -newer "$bundle" | head -1)" ]; then
    echo "ambit: bundling $1" >&2
    node scripts/build-bundle.mjs "$1"
  fi
}
bundle_component ztunnel ztunnel
bundle_component waypoint waypoint
bundle_component controller controller
bundle_component node-agent cni
