#!/bin/sh
# The README's first command: install runyard into .venv, launch the example sweep on
# this machine and show it: in the full-screen app when run in a terminal (q quits, the
# runs go on), else as text until every run has finished.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
# compat mode: a plain .pth entry, so each `tui` call skips the editable finder import.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e .
PATH="$PWD/.venv/bin:$PATH"
export PATH
cd examples/train
echo "launching a sweep: 4 runs of examples/train/train.py with different learning rates..." >&2
ids=$(tui launch --force --tag quickstart --sweep lr=0.3,0.1,0.03,0.01 -- \
    python3 train.py --lr '{lr}' --epochs 4)
if [ -t 0 ] && [ -t 1 ]; then
    echo "opening the app: q quits (the runs keep going), ? lists the keys" >&2
    exec tui
fi
tui status
tui wait $ids || true
tui status
echo "more: tui logs $(echo $ids | cut -d' ' -f1)   tui metrics last   tui clone last --set lr=0.5" >&2
