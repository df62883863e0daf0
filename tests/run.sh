#!/bin/sh
# The whole test suite from a fresh clone: makes .venv, installs runyard with its test
# extras, then runs pytest (arguments are passed on to pytest).
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
# compat mode: a plain .pth entry, so each `tui` call skips the editable finder import.
# `ml`: the small ML libraries whose real output the metric tests read.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test,ml]'
exec .venv/bin/python -m pytest "$@"
