#!/bin/sh
# Runs the app's tests (test_app.py) on this machine's Python, against the
# bindings componentize-py generates for the app's world (in .bindings/):
#   sh test.sh
set -eu
cd "$(dirname "$0")"
rm -rf .bindings
componentize-py --wit-path wit --world app bindings .bindings >/dev/null
PYTHONPATH=.bindings python3 -m unittest -v test_app
