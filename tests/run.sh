#!/bin/sh
# The whole test suite from a fresh clone: makes .venv, installs runyard with its test
# extras, then runs pytest (arguments are passed on to pytest).
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"
