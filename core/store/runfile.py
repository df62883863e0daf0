"""A run's own record in its folder (`runs/<id>/run.json`), so the database can be rebuilt.

The engine writes it when a run's handle is known (or, for a start that takes over a
second, while it starts) and when it ends: the run's row as the database holds it (spec, options, state, exit code, times, handle). If
the database is lost, `tui engine repair` (core.engine.repair) rebuilds the run from this
file, its exit_status, its log and its metrics file. Written atomically (a temporary file
and a rename); a record that cannot be written (a full disk) is only a warning: the
database stays the state of record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "run.json"


def write(run_dir: Path, row: dict) -> None:
    """Replace the run's record with `row` (OSError when it cannot be written)."""
    tmp = run_dir / (NAME + ".tmp")
    data = json.dumps({"v": 1, "run": row}, separators=(",", ":"), allow_nan=False)
    try:
        handle = open(tmp, "w")
    except FileNotFoundError:               # the folder is made once, not checked per write
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(tmp, "w")
    with handle:
        handle.write(data)
    os.replace(tmp, run_dir / NAME)


def read(run_dir: Path) -> dict | None:
    """The run's row as last written, or None (no record, or not one this version reads)."""
    try:
        data = json.loads((run_dir / NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("run"), dict):
        return None
    return data["run"]
