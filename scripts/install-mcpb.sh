#!/usr/bin/env bash
# Installs the MCP bundle CLI (npm @anthropic-ai/mcpb, whose `mcpb validate` checks a manifest.json against the
# bundle format's own schema) and a Node >= 22 to run it, outside the repo; the recipe in npm-tool.sh.
# Usage: scripts/install-mcpb.sh PYTHON   (prints the mcpb bin path)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/npm-tool.sh"
VERSION=${ACK_COMPUTE_MCPB_VERSION:-2.1.2}
CACHE=${ACK_COMPUTE_MCPB_CACHE:-$HOME/.cache/ack-compute-mcp/mcpb-$VERSION}
install_npm_tool "${1:-python3}" "@anthropic-ai/mcpb@$VERSION" "$CACHE" mcpb
