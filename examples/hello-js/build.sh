#!/bin/sh
# Builds the app's component with componentize-js (package.json pins it,
# and preview2-shim, which componentize-js 0.23 imports without declaring;
# `npm ci` installs them):
#   npm ci && sh build.sh
# It writes app.wasm, or $OUT when set. `hutong dev` runs this script.
#
# `--disable http --disable fetch-event`: the host hands requests to the
# app's http-handler export; a component that imports wasi:http is refused.
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund
node_modules/.bin/componentize-js app.js --wit wit --world-name app \
    --disable http --disable fetch-event -o "${OUT:-app.wasm}"
