"""The one writer path for run state: every change is committed, with an event row, here.

Only the engine holds a Ledger. Each method is one transaction; a state change is
written before the engine acts on it, and every change appends to `events`, so a run's
history can be replayed.

A write that cannot happen raises StoreError and changes nothing: the disk is full, or
another program holds the database's write lock (StoreBusy); how a transaction waits and
backs off is core.store.transactions. Callers retry what must be recorded
(core.engine.runner).
"""

from __future__ import annotations

import sqlite3
import time

from core.store import db
from core.store import run_rows
from core.errors import StoreError
from core.models import ALLOWED_TRANSITIONS, Run, RunState, now_iso
from core.store.queries import get_run
from core.store.queue_queries import next_run_id
from core.store.run_rows import dumps as _dumps, text as _text
from core.store.removal_writes import RemovalWrites
from core.store.search_writes import SearchWrites
from core.store.transactions import WRITE_WAIT, PointsTransaction, Transaction, Trouble


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT made (sqlite3 types it optional: other statements have none)."""
    assert cursor.lastrowid is not None, "an INSERT sets lastrowid"
    return cursor.lastrowid


class Ledger(SearchWrites, RemovalWrites):
    def __init__(self, conn: sqlite3.Connection, path=None):
        self.conn = conn
        self.path = path
        self.trouble = Trouble()
        # Runs whose queue entry may have changed (they left the queue, came back, or their
        # constraints changed) since the queue gate last looked; it empties this
        # (core.engine.queue_gate). A new run is not listed: it has a higher id than any.
        self.queue_moves: set[int] = set()

    @classmethod
    def open(cls, path) -> "Ledger":
        conn = db.connect(path, write=True)
        try:
            db.migrate(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT * 1000)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise db.database_error(path, exc) from None
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    def _tx(self):
        return Transaction(self)

    @property
    def problem(self) -> str | None:
        """Why writes fail right now (the store is busy or full), or None."""
        return self.trouble.message

    # ------------------------------------------------------------ runs

    def insert_batch(self, runs: list, groups: list, *, snapshot: str | None, project: str,
                     workdir: str, git_commit: str | None, git_diff: str | None,
                     git_dirty: bool, base_env: str | None, snapshot_row: tuple | None = None,
                     hashes: dict | None = None, message: str = "queued",
                     request: tuple[str, dict] | None = None,
                     group_ids: dict[int, int] | None = None) -> list[int]:
        """Record the new runs of one request (and their groups) in one transaction.

        `runs` are pairs of a `core.engine.launching.PlannedRun` and `reuse`: a run id standing in
        for that run (a cache hit: nothing inserted), or None. Returns the id of each run,
        reused or new, in order; `after_local` indices become run ids. A search's group
        gets its `searches` row, its trials' template completed with this launch's code.
        `request`: the request's id and what to remember of its reply, recorded with the
        runs. `group_ids`, when given, receives the id of each group recorded, by its index.
        """
        at = now_iso()
        code = run_rows.code_columns(snapshot, project, workdir, git_commit, git_dirty,
                                     git_diff, base_env)
        with self._tx():
            if snapshot_row is not None:
                snapshot_id, root, file_count, total_bytes = snapshot_row
                self.conn.execute(
                    "INSERT OR IGNORE INTO snapshots (id, root, file_count, total_bytes, "
                    "created_at) VALUES (?,?,?,?,?)",
                    (snapshot_id, _text(root), file_count, total_bytes, at))
            if hashes:
                self._save_hashes(hashes)
            new_groups = self._insert_groups(runs, groups, at)
            next_id = next_run_id(self.conn)
            ids: list[int] = []
            rows, events = [], []
            options_text: dict[int, str] = {}         # runs of one step share their options
            for planned, reuse in runs:
                if reuse is not None:
                    ids.append(reuse)
                    continue
                options = options_text.get(id(planned.options))
                if options is None:
                    options = options_text[id(planned.options)] = _dumps(planned.options)
                depends = sorted({*planned.spec.policy.after,
                                  *(ids[i] for i in planned.after_local)})
                # A sweep with no new run (all cached) has no group here: nothing to wait for.
                waits_for = sorted({new_groups[g] for g in planned.after_groups
                                    if g in new_groups})
                run_id = next_id
                next_id += 1
                ids.append(run_id)
                after_search = new_groups.get(planned.after_search) \
                    if planned.after_search is not None else None
                rows.append(run_rows.row(run_id, planned, options, code, at,
                                         new_groups.get(planned.group), depends, after_search,
                                         waits_for))
                note = message + (f", after run{'s' if len(depends) > 1 else ''} "
                                  f"{', '.join(map(str, depends))}" if depends else "") + \
                    "".join(f", after every run of group {g}" for g in waits_for)
                if after_search is not None:
                    note += f", after search {after_search} (its best trial)"
                events.append((run_id, at, "state", RunState.QUEUED.value, _text(note), None))
            run_rows.insert(self.conn, rows)
            self.conn.executemany(
                "INSERT INTO events (run_id, at, kind, state, message, data) VALUES (?,?,?,?,?,?)",
                events)
            self._insert_searches(groups, new_groups, ids, code, at)
            if request is not None:
                request_id, extra = request
                cached = sorted({r for _planned, r in runs if r is not None})
                searches = [new_groups[i] for i, group in enumerate(groups)
                            if getattr(group, "search", None) and i in new_groups]
                self.conn.execute("INSERT INTO requests (id, at, reply) VALUES (?,?,?)",
                                  (request_id, at, _dumps({**extra, "ids": ids,
                                                           "cached": cached,
                                                           "searches": searches})))
        if group_ids is not None:
            group_ids.update(new_groups)
        return ids

    def _insert_groups(self, runs: list, groups: list, at: str) -> dict[int, int]:
        """Groups that get at least one new run, and searches (their trials come later),
        with the groups enclosing them."""
        needed: set[int] = set()
        starts = [planned.group if reuse is None else None for planned, reuse in runs]
        starts += [i for i, group in enumerate(groups) if getattr(group, "search", None)]
        for index in starts:
            while index is not None and index not in needed:
                needed.add(index)
                index = groups[index].parent
        out: dict[int, int] = {}
        for index in sorted(needed):
            group = groups[index]
            if getattr(group, "id", None) is not None:        # an existing group (a watch's)
                out[index] = group.id
                continue
            cur = self.conn.execute(
                "INSERT INTO groups (kind, name, parent, spec, created_at) VALUES (?,?,?,?,?)",
                (group.kind, _text(group.name), out.get(group.parent), _dumps(group.spec), at))
            out[index] = _row_id(cur)
        return out

    def forget_requests(self, before: str) -> None:
        """Drop the request ids recorded before `before` (ISO time): a client asks again
        within seconds of losing the engine, never days later."""
        with self._tx():
            self.conn.execute("DELETE FROM requests WHERE at < ?", (before,))

    def insert_group(self, kind: str, name: str, spec: dict) -> int:
        with self._tx():
            return _row_id(self.conn.execute(
                "INSERT INTO groups (kind, name, spec, created_at) VALUES (?,?,?,?)",
                (kind, _text(name), _dumps(spec), now_iso())))

    def transition(self, run_id: int, state: RunState, *, reason: str | None = None,
                   exit_code: int | None = None, gpu_ids: list[int] | None = None,
                   message: str | None = None, at: str | None = None,
                   cause: str | None = None) -> Run:
        """Move a run to `state`, stamping the matching timestamp; refuses illegal moves.

        `at` backdates the change (a run that ended while the engine was down).
        """
        at = at or now_iso()
        with self._tx():
            self._transition(run_id, state, reason=reason, exit_code=exit_code,
                             gpu_ids=gpu_ids, message=message, at=at, cause=cause)
        return get_run(self.conn, run_id)

    def _transition(self, run_id, state, *, reason, exit_code, gpu_ids, message, at, cause,
                    extra: dict | None = None) -> None:
        row = self.conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
        current = RunState(row[0])
        if state not in ALLOWED_TRANSITIONS.get(current, frozenset()):
            raise StoreError(f"run {run_id}: cannot go from {current} to {state}")
        if RunState.QUEUED in (current, state):
            self.queue_moves.add(run_id)
        sets = {"state": state.value, "reason": _text(reason)}
        if state is RunState.RUNNING:
            sets.update(started_at=at, gpu_ids=_dumps(gpu_ids or []), exit_code=None,
                        finished_at=None)
        elif state is RunState.QUEUED:
            sets.update(started_at=None, gpu_ids="[]", handle="{}")
        else:
            sets.update(finished_at=at, exit_code=exit_code)
        if cause is not None:
            sets["cause"] = cause
        sets.update(extra or {})
        assignments = ", ".join(f"{k} = ?" for k in sets)
        self.conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*sets.values(), run_id))
        self._event(run_id, "state", state, message or reason or state.value, at=at)

    def retry(self, run_id: int, state: RunState, *, reason: str | None,
              exit_code: int | None, at: str, not_before: str, avoid_gpus: list[int],
              resume_point: str | None, note: str) -> tuple[Run, int]:
        """End an attempt and queue the next one, linked to it, in one transaction."""
        with self._tx():
            new_id = next_run_id(self.conn)
            self.conn.execute(
                """INSERT INTO runs (id, name, state, target, gpus, command, template, params,
                       overrides, env, tags, parent, priority, options, snapshot, project,
                       workdir, git_commit, git_dirty, git_diff, base_env, created_at,
                       group_id, depends_on, spec_key, attempt, retry_of, not_before,
                       avoid_gpus, resume_point, retries, retry_on, retry_delay, stop_if,
                       checkpoints, outputs, exact_paths, after_groups)
                   SELECT ?, name, 'queued', target, gpus, command, template, params, overrides,
                       env, tags, parent, priority, options, snapshot, project, workdir,
                       git_commit, git_dirty, git_diff, base_env, ?, group_id, depends_on,
                       spec_key, attempt + 1, coalesce(retry_of, id), ?, ?,
                       coalesce(?, resume_point), retries, retry_on, retry_delay, stop_if,
                       checkpoints, outputs, exact_paths, after_groups
                   FROM runs WHERE id = ?""",
                (new_id, at, not_before, _dumps(avoid_gpus), _text(resume_point), run_id))
            self._transition(run_id, state, reason=reason, exit_code=exit_code, gpu_ids=None,
                             message=state.value + (f" ({reason})" if reason else "")
                             + f"; retrying as run {new_id}: {note}", at=at, cause=None,
                             extra={"retried_as": new_id})
            self._event(new_id, "state", RunState.QUEUED,
                        f"queued: {note}, after run {run_id} {state.value}", at=at)
        return get_run(self.conn, run_id), new_id

    def set_resume(self, run_id: int, point: str | None, path: str | None,
                   message: str) -> None:
        """The checkpoint a starting run resumes from (RUN:PATH), and the path it reads it
        by; `message` joins its history."""
        with self._tx():
            self.conn.execute("UPDATE runs SET resume_point = ?, resume_from = ? WHERE id = ?",
                              (point, path, run_id))
            self._event(run_id, "resume", None, message)

    def request_stop(self, run_id: int, reason: str, cause: str = "stop_rule") -> None:
        """A stop rule fired or a search's pruner said stop (`cause`): remember why (the
        run ends `stopped`), then it is cancelled."""
        at = now_iso()
        with self._tx():
            self.conn.execute("UPDATE runs SET cancel_requested_at = ?, cause = ?, "
                              "reason = ? WHERE id = ?", (at, cause, _text(reason), run_id))
            self._event(run_id, "stop", None, reason, at=at)

    def set_handle(self, run_id: int, handle: dict) -> None:
        with self._tx():
            self.conn.execute("UPDATE runs SET handle = ? WHERE id = ?", (_dumps(handle), run_id))

    def set_detail(self, run_id: int, detail: str | None, message: str | None = None) -> None:
        """What the target says about a running run now; `message` also goes into its history."""
        with self._tx():
            cur = self.conn.execute("UPDATE runs SET detail = ? WHERE id = ? AND state = "
                                    "'running'", (_text(detail), run_id))
            if message and cur.rowcount:
                self._event(run_id, "target", None, message)

    def record_pull(self, run_id: int, dest: str, files: list[tuple[str, int, int, str]],
                    why: str, note: str | None) -> None:
        """Files pulled into `dest`: (path, size, mtime_ns, sha256) as written there; `note`
        (what was pulled, in words) joins the run's history."""
        at = now_iso()
        with self._tx():
            self.conn.executemany(
                "INSERT OR REPLACE INTO pulled (run_id, dest, path, size, mtime_ns, sha256, at, "
                "why) VALUES (?,?,?,?,?,?,?,?)",
                [(run_id, dest, path, size, mtime, sha, at, why)
                 for path, size, mtime, sha in files])
            if note:
                self._event(run_id, "pull", None, note, at=at)

    def add_snapshot(self, snapshot_id: str, root: str, file_count: int, total_bytes: int) -> None:
        """Record a snapshot found again in the blob store (`tui engine repair`)."""
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO snapshots (id, root, file_count, "
                              "total_bytes, created_at) VALUES (?,?,?,?,?)",
                              (snapshot_id, root, file_count, total_bytes, now_iso()))

    def request_cancel(self, run_id: int) -> None:
        at = now_iso()
        with self._tx():
            self.conn.execute("UPDATE runs SET cancel_requested_at = ? WHERE id = ?", (at, run_id))
            self._event(run_id, "cancel", None, "cancel requested", at=at)

    def cancel_queued(self, ids: list[int], reason: str) -> list[int]:
        """Cancel those of these runs (at most 500) that are still queued, in one
        transaction: each gets what `request_cancel` then `transition` to cancelled write,
        events included. Returns the ids cancelled."""
        at = now_iso()
        with self._tx():
            queued = [row[0] for row in self.conn.execute(
                f"SELECT id FROM runs WHERE state = 'queued' AND id IN "
                f"({','.join('?' * len(ids))})", ids)]
            self.conn.executemany(
                "UPDATE runs SET cancel_requested_at = ?, state = 'cancelled', reason = ?, "
                "finished_at = ?, exit_code = NULL WHERE id = ?",
                [(at, _text(reason), at, run_id) for run_id in queued])
            self.conn.executemany(
                "INSERT INTO events (run_id, at, kind, state, message, data) VALUES (?,?,?,?,?,?)",
                [event for run_id in queued for event in (
                    (run_id, at, "cancel", None, "cancel requested", None),
                    (run_id, at, "state", RunState.CANCELLED.value, _text(reason), None))])
            self.queue_moves.update(queued)
        return queued

    def event(self, run_id: int, kind: str, message: str, data: dict | None = None) -> None:
        with self._tx():
            self._event(run_id, kind, None, message, data=data)

    def _event(self, run_id, kind, state, message, *, at=None, data=None) -> None:
        self.conn.execute(
            "INSERT INTO events (run_id, at, kind, state, message, data) VALUES (?,?,?,?,?,?)",
            (run_id, at or now_iso(), kind, state.value if state else None, _text(message),
             _dumps(data) if data is not None else None))

    # ------------------------------------------------------------ metrics

    def add_metrics(self, run_id: int, rows: list[tuple[str, int, float | None]],
                    latest: dict | None = None, ingest: dict | None = None) -> None:
        """Store metric points, with the run's latest values and the ingest position they
        came from when given, in one transaction."""
        at = time.time()
        with self._points_tx(run_id):
            self.conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, key, step, value, at) VALUES (?,?,?,?,?)",
                [(run_id, key, step, value, at) for key, step, value in rows])
            if latest is not None:
                self.conn.execute("UPDATE runs SET metrics = ?, ingest = ? WHERE id = ?",
                                  (_dumps(latest), _dumps(ingest), run_id))

    def _points_tx(self, run_id: int):
        """A transaction for many points of one run. The run's row is checked once, and
        foreign keys are not checked per point: that check halved the points stored per
        second (1M points: 368k/s with it, 708k/s without)."""
        return PointsTransaction(self, run_id)

    def replace_metrics(self, run_id: int, rows: list[tuple[str, int, float | None]],
                        latest: dict, ingest: dict, options: dict, message: str) -> None:
        """A run's metrics read anew (`tui metrics --reparse`): every old point goes, the new
        ones and the rules they were read with come in, in one transaction, with an event."""
        at = time.time()
        with self._points_tx(run_id):
            self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, key, step, value, at) VALUES (?,?,?,?,?)",
                [(run_id, key, step, value, at) for key, step, value in rows])
            self.conn.execute("UPDATE runs SET metrics = ?, ingest = ?, options = ? WHERE id = ?",
                              (_dumps(latest), _dumps(ingest), _dumps(options), run_id))
            self._event(run_id, "metrics", None, message)

    def mark_metrics_pending(self, run_id: int) -> None:
        """Reading the run's metrics waits for room (core.engine.metric_room): noted in its
        ingest position, so a restarted engine catches it up."""
        with self._tx():
            self.conn.execute("UPDATE runs SET ingest = json_set(ingest, '$.pending', json('true'))"
                              " WHERE id = ?", (run_id,))

    def metrics_caught_up(self, run_id: int) -> None:
        with self._tx():
            self.conn.execute("UPDATE runs SET ingest = json_remove(ingest, '$.pending') "
                              "WHERE id = ?", (run_id,))
            self._event(run_id, "metrics", None, "metrics caught up")

    # ------------------------------------------------------------ snapshots and caches

    def _save_hashes(self, entries: dict) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, ctime_ns, digest)"
            " VALUES (?,?,?,?,?,?)", [(path, *entry) for path, entry in entries.items()])

    # ------------------------------------------------------------ watches

    def insert_watch(self, group_id: int, paths: list[str], request: dict,
                     debounce: float) -> int:
        with self._tx():
            return _row_id(self.conn.execute(
                "INSERT INTO watches (group_id, paths, request, debounce, state, created_at) "
                "VALUES (?,?,?,?,'active',?)",
                (group_id, _dumps(paths), _dumps(request), debounce, now_iso())))

    def watch_triggered(self, watch_id: int, run_id: int, fingerprint: str,
                        changes: int) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE watches SET last_run = ?, fingerprint = ?, triggers = triggers + 1, "
                "changes = changes + ?, last_error = NULL WHERE id = ?",
                (run_id, fingerprint, changes, watch_id))

    def watch_error(self, watch_id: int, message: str) -> None:
        with self._tx():
            self.conn.execute("UPDATE watches SET last_error = ? WHERE id = ?",
                              (_text(message), watch_id))

    def stop_watch(self, watch_id: int) -> None:
        with self._tx():
            self.conn.execute("UPDATE watches SET state = 'stopped', stopped_at = ? "
                              "WHERE id = ?", (now_iso(), watch_id))

    # ------------------------------------------------------------ targets

    def upsert_target(self, name: str, kind: str, config: dict, source: str) -> None:
        with self._tx():
            self.conn.execute(
                """INSERT INTO targets (name, kind, config, source, updated_at)
                   VALUES (?,?,?,?,?)
                   ON CONFLICT(name) DO UPDATE SET kind = excluded.kind,
                       config = excluded.config, source = excluded.source,
                       updated_at = excluded.updated_at""",
                (name, kind, _dumps(config), _text(source), now_iso()))

    def target_status(self, name: str, status: str, message: str | None,
                      gpus: list | None = None) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE targets SET status = ?, message = ?, gpus = ? WHERE name = ?",
                (status, _text(message), _dumps(gpus) if gpus is not None else None, name))
