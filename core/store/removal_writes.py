"""The ledger's writes that take runs out of the store and put rebuilt ones back.

Mixed into core.store.ledger.Ledger (the one writer); each method is one transaction.
`remove` is all or nothing and refuses a run another run still needs; `restore_runs` is
`tui engine repair` putting back runs rebuilt from their folders.
"""

from __future__ import annotations

import json

from core.errors import UnknownRun, UsageError
from core.models import RunState, now_iso

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Callable


class RemovalWrites:
    """Removing and restoring runs; Ledger provides `conn`, `_tx`, `_event` and `queue_moves`."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        queue_moves: set[int]
        _tx: Callable[[], Any]
        _event: Callable[..., None]

    def remove(self, ids: list[int]) -> list[dict]:
        """Remove ended runs: their rows, history and metrics, in one transaction; each id
        is recorded in `removed`. All or nothing: a run that is queued or running, or that
        a queued or running run still needs (it waits for it, or continues its retries),
        refuses the whole request. Returns the removed runs (id, name, state)."""
        # Other runs keep naming a removed one (a clone's `parent`, an attempt's `retry_of`):
        # lineage stays true, and the id is never reused, so the reference cannot mislead.
        # No code updates those columns later, so SQLite's checks are off just for this.
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            return self._remove(sorted(set(ids)))
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")

    def _remove(self, wanted: list[int]) -> list[dict]:
        with self._tx():
            found: dict[int, sqlite3.Row] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update((row[0], row) for row in self.conn.execute(
                    f"SELECT id, name, state FROM runs WHERE id IN ({marks})", chunk))
            missing = [i for i in wanted if i not in found]
            if missing:
                raise UnknownRun(f"no run with id {missing[0]}",
                                 hint="list runs with: tui status --all")
            active = [i for i in wanted if found[i][2] in ("queued", "running")]
            if active:
                raise UsageError(f"run {active[0]} is {found[active[0]][2]}: only ended runs "
                                 "can be removed", hint=f"cancel it first: tui cancel {active[0]}")
            chosen = set(wanted)
            members: dict[int, set[int]] = {}       # group -> chosen runs in it
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                for run_id, group_id in self.conn.execute(
                        f"SELECT id, group_id FROM runs WHERE group_id IS NOT NULL AND id IN "
                        f"({','.join('?' * len(chunk))})", chunk):
                    members.setdefault(group_id, set()).add(run_id)
            for run_id, state, depends, retry_of, groups in self.conn.execute(
                    "SELECT id, state, depends_on, retry_of, after_groups FROM runs "
                    "WHERE state IN ('queued', 'running')"):
                needs = chosen & {*json.loads(depends), retry_of}
                for group_id in (json.loads(groups) if groups != "[]" else ()):
                    needs |= members.get(group_id, set())
                if needs:
                    raise UsageError(f"run {min(needs)} is still needed by run {run_id}, "
                                     f"which is {state}", hint="remove it after that run ends")
            for run_id, next_id in self.conn.execute(
                    "SELECT r.id, r.retried_as FROM runs r JOIN runs n ON n.id = r.retried_as "
                    "WHERE n.state IN ('queued', 'running')"):
                if run_id in chosen:
                    raise UsageError(f"run {run_id} is still needed by run {next_id} (its "
                                     "next attempt), which has not ended",
                                     hint="remove it after that run ends")
            at = now_iso()
            self.conn.executemany(
                "INSERT INTO removed (run_id, name, state, at) VALUES (?, ?, ?, ?)",
                [(i, found[i][1], found[i][2], at) for i in wanted])
            for table, column in (("metrics", "run_id"), ("events", "run_id"),
                                  ("pulled", "run_id"), ("runs", "id")):
                self.conn.executemany(f"DELETE FROM {table} WHERE {column} = ?",
                                      [(i,) for i in wanted])
        return [{"id": i, "name": found[i][1], "state": found[i][2]} for i in wanted]

    def restore_runs(self, rows: list[dict], note: str) -> None:
        """Put back runs rebuilt from their folders (`tui engine repair`), with their ids,
        each with an event saying so. References to runs or groups the store does not have
        (they were lost with the database) are cleared."""
        columns = [row[1] for row in self.conn.execute("PRAGMA table_info(runs)")
                   if row[1] != "json"]
        at = now_iso()
        self.conn.execute("PRAGMA foreign_keys = OFF")       # a run may name a later attempt
        try:
            with self._tx():
                for row in rows:
                    names = [c for c in columns if c in row]
                    self.conn.execute(
                        f"INSERT INTO runs ({', '.join(names)}) VALUES "
                        f"({', '.join('?' * len(names))})", [row[c] for c in names])
                    self._event(row["id"], "state", RunState(row["state"]), note, at=at)
                    self.queue_moves.add(row["id"])
                ids = [(row["id"],) for row in rows]
                for column in ("parent", "retry_of", "retried_as"):      # not removed runs'
                    self.conn.executemany(
                        f"UPDATE runs SET {column} = NULL WHERE id = ? AND {column} NOT IN "
                        "(SELECT id FROM runs UNION SELECT run_id FROM removed)", ids)
                self.conn.executemany("UPDATE runs SET group_id = NULL WHERE id = ? AND "
                                      "group_id NOT IN (SELECT id FROM groups)", ids)
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")
