#!/bin/sh
# Builds the app's component with componentize-py (requirements.txt pins it):
#   pip install -r requirements.txt && sh build.sh
# It writes app.wasm, or $OUT when set. `hutong dev` runs this script.
set -eu
cd "$(dirname "$0")"
componentize-py --wit-path wit --world app componentize app -o "${OUT:-app.wasm}"
