"""A new run's row as the ledger inserts it: one place for the columns and their order."""

from __future__ import annotations

import json
import sqlite3

from core.models import RunState, default_name


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


COLUMNS = ("id, name, state, target, gpus, command, template, params, overrides, env, tags, "
           "parent, priority, options, snapshot, project, workdir, git_commit, git_dirty, "
           "git_diff, base_env, created_at, group_id, depends_on, spec_key, resume_from, "
           "retries, retry_on, retry_delay, stop_if, checkpoints, after_search")
_INSERT = (f"INSERT INTO runs ({COLUMNS}) VALUES "
           f"({','.join('?' * len(COLUMNS.split(',')))})")


def code_columns(snapshot: str | None, project: str, workdir: str, git_commit: str | None,
                 git_dirty: bool, git_diff: str | None, base_env: str | None) -> tuple:
    """What the runs of one launch share: their code, where it came from, the shell's env."""
    return (snapshot, project, workdir, git_commit, int(git_dirty), git_diff, base_env)


def row(run_id: int, planned, options: str, code: tuple, at: str, group_id: int | None,
        depends: list[int], after_search: int | None = None) -> tuple:
    """The row of a queued run from its planned spec (core.engine.launching.PlannedRun)."""
    spec, policy = planned.spec, planned.spec.policy
    return (run_id, spec.name or default_name(spec.command), RunState.QUEUED.value,
            spec.target, spec.gpus, dumps(spec.command), dumps(spec.template),
            dumps(spec.params), dumps(spec.overrides), dumps(spec.env), dumps(spec.tags),
            spec.parent, spec.priority, options, *code, at, group_id, dumps(depends),
            planned.key, planned.resume_from, policy.retries, policy.retry_on,
            policy.retry_delay, dumps(policy.stop_if), policy.checkpoints, after_search)


def insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(_INSERT, rows)
