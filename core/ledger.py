"""The one writer path for run state: every change is committed, with an event row, here.

Only the engine holds a Ledger. Each method is one transaction; a state change is
written before the engine acts on it, and every change appends to `events`, so a run's
history can be replayed.
"""

from __future__ import annotations

import json
import sqlite3
import time

from core import db
from core.errors import StoreError
from core.models import ALLOWED_TRANSITIONS, Run, RunSpec, RunState, default_name, now_iso
from core.runs import get_run


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class Ledger:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @classmethod
    def open(cls, path) -> "Ledger":
        conn = db.connect(path, write=True)
        db.migrate(conn)
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def _tx(self):
        return _Transaction(self.conn)

    # ------------------------------------------------------------ runs

    def insert_run(self, spec: RunSpec, *, snapshot: str | None, project: str, workdir: str,
                   git_commit: str | None, git_diff: str | None, git_dirty: bool,
                   base_env: str | None, options: dict, message: str = "queued") -> Run:
        at = now_iso()
        with self._tx():
            cur = self.conn.execute(
                """INSERT INTO runs (name, state, target, gpus, command, template, params,
                       overrides, env, tags, parent, priority, options, snapshot, project,
                       workdir, git_commit, git_dirty, git_diff, base_env, created_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (spec.name or default_name(spec.command), RunState.QUEUED.value, spec.target,
                 spec.gpus, _dumps(spec.command), _dumps(spec.template), _dumps(spec.params),
                 _dumps(spec.overrides), _dumps(spec.env), _dumps(spec.tags), spec.parent,
                 spec.priority, _dumps(options), snapshot, project, workdir, git_commit,
                 int(git_dirty), git_diff, base_env, at))
            run_id = cur.lastrowid
            self._event(run_id, "state", RunState.QUEUED, message, at=at)
        return get_run(self.conn, run_id)

    def transition(self, run_id: int, state: RunState, *, reason: str | None = None,
                   exit_code: int | None = None, gpu_ids: list[int] | None = None,
                   message: str | None = None, at: str | None = None) -> Run:
        """Move a run to `state`, stamping the matching timestamp; refuses illegal moves.

        `at` backdates the change (a run that ended while the engine was down).
        """
        at = at or now_iso()
        with self._tx():
            row = self.conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
            current = RunState(row[0])
            if state not in ALLOWED_TRANSITIONS.get(current, frozenset()):
                raise StoreError(f"run {run_id}: cannot go from {current} to {state}")
            sets = {"state": state.value, "reason": reason}
            if state is RunState.RUNNING:
                sets.update(started_at=at, gpu_ids=_dumps(gpu_ids or []), exit_code=None,
                            finished_at=None)
            elif state is RunState.QUEUED:
                sets.update(started_at=None, gpu_ids="[]", handle="{}")
            else:
                sets.update(finished_at=at, exit_code=exit_code)
            assignments = ", ".join(f"{k} = ?" for k in sets)
            self.conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                              (*sets.values(), run_id))
            self._event(run_id, "state", state, message or reason or state.value, at=at)
        return get_run(self.conn, run_id)

    def set_handle(self, run_id: int, handle: dict) -> None:
        with self._tx():
            self.conn.execute("UPDATE runs SET handle = ? WHERE id = ?", (_dumps(handle), run_id))

    def request_cancel(self, run_id: int) -> None:
        at = now_iso()
        with self._tx():
            self.conn.execute("UPDATE runs SET cancel_requested_at = ? WHERE id = ?", (at, run_id))
            self._event(run_id, "cancel", None, "cancel requested", at=at)

    def event(self, run_id: int, kind: str, message: str, data: dict | None = None) -> None:
        with self._tx():
            self._event(run_id, kind, None, message, data=data)

    def _event(self, run_id, kind, state, message, *, at=None, data=None) -> None:
        self.conn.execute(
            "INSERT INTO events (run_id, at, kind, state, message, data) VALUES (?,?,?,?,?,?)",
            (run_id, at or now_iso(), kind, state.value if state else None, message,
             _dumps(data) if data is not None else None))

    # ------------------------------------------------------------ metrics

    def add_metrics(self, run_id: int, rows: list[tuple[str, int, float | None]],
                    latest: dict, ingest: dict) -> None:
        """Store metric points with the ingest position they came from, in one transaction."""
        at = time.time()
        with self._tx():
            self.conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, key, step, value, at) VALUES (?,?,?,?,?)",
                [(run_id, key, step, value, at) for key, step, value in rows])
            self.conn.execute("UPDATE runs SET metrics = ?, ingest = ? WHERE id = ?",
                              (_dumps(latest), _dumps(ingest), run_id))

    # ------------------------------------------------------------ snapshots and caches

    def record_snapshot(self, snapshot_id: str, root: str, file_count: int,
                        total_bytes: int) -> None:
        with self._tx():
            self.conn.execute(
                "INSERT OR IGNORE INTO snapshots (id, root, file_count, total_bytes, created_at)"
                " VALUES (?,?,?,?,?)", (snapshot_id, root, file_count, total_bytes, now_iso()))

    def load_hashes(self) -> dict:
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in
                self.conn.execute("SELECT path, size, mtime_ns, inode, digest FROM file_hashes")}

    def save_hashes(self, entries: dict) -> None:
        if not entries:
            return
        with self._tx():
            self.conn.executemany(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, digest)"
                " VALUES (?,?,?,?,?)", [(path, *entry) for path, entry in entries.items()])

    # ------------------------------------------------------------ targets

    def upsert_target(self, name: str, kind: str, config: dict, source: str) -> None:
        with self._tx():
            self.conn.execute(
                """INSERT INTO targets (name, kind, config, source, updated_at)
                   VALUES (?,?,?,?,?)
                   ON CONFLICT(name) DO UPDATE SET kind = excluded.kind,
                       config = excluded.config, source = excluded.source,
                       updated_at = excluded.updated_at""",
                (name, kind, _dumps(config), source, now_iso()))

    def target_status(self, name: str, status: str, message: str | None,
                      gpus: list | None = None) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE targets SET status = ?, message = ?, gpus = ? WHERE name = ?",
                (status, message, _dumps(gpus) if gpus is not None else None, name))

    def targets(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM targets ORDER BY name")]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, turning a full disk into a StoreError."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, exc, tb):
        if exc is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.Error as commit_exc:
                exc = commit_exc
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            raise StoreError("the store's disk is full; nothing was changed",
                             hint="free some space, or move the store with RUNYARD_HOME") from exc
        if isinstance(exc, sqlite3.Error) and kind is None:
            raise StoreError(f"database error: {exc}") from exc
        return False
