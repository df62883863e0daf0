"""A new run's row as the ledger inserts it: one place for the columns and their order."""

from __future__ import annotations

import json
import sqlite3
from typing import overload

from core.models import RunState, default_name


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


@overload
def text(value: str) -> str: ...
@overload
def text(value: None) -> None: ...
def text(value: str | None) -> str | None:
    """Text SQLite can hold: bytes that were not UTF-8 (a file name, an argument, kept by
    Python as surrogates) become `\\xNN`. Exact values travel as JSON (`dumps`) instead."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def exact_paths(project: str, workdir: str) -> str | None:
    """The project and subfolder as JSON when their text had to be escaped, else None."""
    if text(project) == project and text(workdir) == workdir:
        return None
    return dumps({"project": project, "workdir": workdir})


COLUMNS = ("id, name, state, target, gpus, command, template, params, overrides, env, tags, "
           "parent, priority, options, snapshot, project, workdir, git_commit, git_dirty, "
           "git_diff, base_env, exact_paths, created_at, group_id, depends_on, spec_key, "
           "resume_point, retries, retry_on, retry_delay, stop_if, checkpoints, outputs, "
           "after_search, after_groups")
_INSERT = (f"INSERT INTO runs ({COLUMNS}) VALUES "
           f"({','.join('?' * len(COLUMNS.split(',')))})")


def code_columns(snapshot: str | None, project: str, workdir: str, git_commit: str | None,
                 git_dirty: bool, git_diff: str | None, base_env: str | None) -> tuple:
    """What the runs of one launch share: their code, where it came from, the shell's env
    (project and subfolder as SQLite can hold them, with their exact paths beside)."""
    return (snapshot, text(project), text(workdir), git_commit, int(git_dirty), git_diff,
            base_env, exact_paths(project, workdir))


def row(run_id: int, planned, options: str, code: tuple, at: str, group_id: int | None,
        depends: list[int], after_search: int | None = None,
        after_groups: list[int] | None = None) -> tuple:
    """The row of a queued run from its planned spec (core.engine.launching.PlannedRun)."""
    spec, policy = planned.spec, planned.spec.policy
    return (run_id, text(spec.name or default_name(spec.command)), RunState.QUEUED.value,
            spec.target, spec.gpus, dumps(spec.command), dumps(spec.template),
            dumps(spec.params), dumps(spec.overrides), dumps(spec.env), dumps(spec.tags),
            spec.parent, spec.priority, options, *code, at, group_id, dumps(depends),
            planned.key, text(planned.resume_point), policy.retries, text(policy.retry_on),
            policy.retry_delay, dumps(policy.stop_if), text(policy.checkpoints),
            dumps(policy.outputs), after_search, dumps(after_groups or []))


def insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(_INSERT, rows)
