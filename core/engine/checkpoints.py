"""Resuming: finding the newest checkpoint a run wrote, to hand to the run that resumes it.

A run launched with `--checkpoints DIR` writes checkpoints into DIR, a folder relative to
its working folder (its copy of the code). The newest checkpoint is the entry of DIR (a
file or a folder such as `step-1000/`) modified last; ties go to the name that sorts last
with numbers compared as numbers (`epoch10` after `epoch9`). `tui clone ID --resume`, and
each retry of a run that has checkpoints, passes its absolute path in
`$RUNYARD_RESUME_FROM`. Checkpoints are read where the run wrote them (local targets).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from core.errors import UsageError
from core.models import Run
from core.paths import StorePaths

_DIGITS = re.compile(r"(\d+)")


def folder(paths: StorePaths, run: Run) -> Path | None:
    """Where the run keeps its checkpoints, or None when it names no folder."""
    checkpoints = run.spec.policy.checkpoints
    if not checkpoints:
        return None
    code = paths.run_dir(run.id) / "code"
    return (code / run.workdir if run.workdir else code) / checkpoints


def newest(path: Path) -> Path | None:
    try:
        entries = [e for e in os.scandir(path) if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not entries:
        return None

    def order(entry):
        natural = [int(p) if p.isdigit() else p for p in _DIGITS.split(entry.name)]
        return entry.stat(follow_symlinks=False).st_mtime_ns, natural

    return Path(max(entries, key=order).path)


def resume_point(paths: StorePaths, run: Run, checkpoints: str | None = None) -> str:
    """The newest checkpoint of `run` (for --resume); a clear error when there is none."""
    if checkpoints:
        run = replace(run, spec=replace(run.spec, policy=run.spec.policy.replace(
            checkpoints=checkpoints)))
    where = folder(paths, run)
    if where is None:
        raise UsageError(f"run {run.id} names no checkpoint folder",
                         hint="launch runs with --checkpoints DIR, or give "
                              "--checkpoints DIR with --resume")
    found = newest(where)
    if found is None:
        raise UsageError(f"run {run.id} has no checkpoint in {where}",
                         hint="clone without --resume to start from scratch")
    return str(found)
