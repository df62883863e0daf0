"""The ledger's writes for adaptive searches: their rows, their trials, what each trial was told.

Mixed into core.store.ledger.Ledger (the one writer); each method is one transaction. A
trial's row is written with its run, in the same transaction, so a trial is never asked
twice nor lost: what the store holds is the study (see core.engine.search).
"""

from __future__ import annotations

import math

from core.models import RunState, now_iso
from core.store import run_rows
from core.store.queue_queries import next_run_id
from core.store.run_rows import dumps, text

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Callable


class SearchWrites:
    """Search and trial writes; Ledger provides `conn`, `_tx`, `_event` and `queue_moves`."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        queue_moves: set[int]
        _tx: Callable[[], Any]
        _event: Callable[..., None]

    def _insert_searches(self, groups: list, group_ids: dict[int, int], ids: list[int],
                         code: tuple, at: str) -> None:
        """The `searches` row of each search group of a launch (inside insert_batch): the
        trials' template gets the launch's code and what they wait for: runs of earlier
        steps by id, a big sweep step by its group (none when all its runs were cached)."""
        for index, group in enumerate(groups):
            search = getattr(group, "search", None)
            if not search or index not in group_ids:
                continue
            policy = dict(search["policy"])
            policy["after"] = sorted({*policy["after"], *(ids[i] for i in group.after_local)})
            template = {**search, "policy": policy, "code": list(code),
                        "after_groups": sorted(group_ids[g] for g in group.after_groups
                                               if g in group_ids)}
            self.conn.execute(
                "INSERT INTO searches (group_id, state, budget, template, updated_at) "
                "VALUES (?, 'running', ?, ?, ?)",
                (group_ids[index], group.spec["trials"], dumps(template), at))

    def insert_trial(self, group_id: int, number: int, values: dict, attrs: dict,
                     planned, cached_run: int | None, template: dict) -> int:
        """Record trial `number` of a search with its run (queued), or with the run that
        already did it (`cached_run`); returns the run's id."""
        at = now_iso()
        with self._tx():
            if cached_run is None:
                run_id = next_run_id(self.conn)
                depends = list(planned.spec.policy.after)
                waits_for = template.get("after_groups", [])
                run_rows.insert(self.conn, [run_rows.row(
                    run_id, planned, dumps(template["options"]), tuple(template["code"]), at,
                    group_id, depends, after_groups=waits_for)])
                note = f"queued: trial {number} of search {group_id}" + (
                    f", after run{'s' if len(depends) > 1 else ''} "
                    f"{', '.join(map(str, depends))}" if depends else "") + \
                    "".join(f", after every run of group {g}" for g in waits_for)
                self._event(run_id, "state", RunState.QUEUED, note, at=at)
            else:
                run_id = cached_run
            self.conn.execute(
                "INSERT INTO trials (group_id, number, run_id, params, state, attrs, "
                "created_at) VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (group_id, number, run_id, dumps(values), dumps(attrs), at))
        return run_id

    def tell_trial(self, group_id: int, number: int, state: str, value: float | None,
                   result_run: int | None, reason: str | None) -> bool:
        """Record how a trial ended, as told to the sampler; False if it was told already."""
        if value is not None and not math.isfinite(value):
            value = None
        at = now_iso()
        with self._tx():
            told = self.conn.execute("SELECT coalesce(max(told), 0) + 1 FROM trials "
                                     "WHERE group_id = ?", (group_id,)).fetchone()[0]
            changed = self.conn.execute(
                "UPDATE trials SET state = ?, value = ?, result_run = ?, reason = ?, told = ?, "
                "ended_at = ? WHERE group_id = ? AND number = ? AND state = 'running'",
                (state, value, result_run, text(reason), told, at, group_id, number)).rowcount
            if changed and result_run is not None:
                shown = f" ({reason})" if reason else ""
                self._event(result_run, "search", None,
                            f"trial {number} of search {group_id}: {state}{shown}", at=at)
        return bool(changed)

    def trial_pruned(self, group_id: int, number: int, step: int) -> None:
        """The pruner said stop at this step (before the run is stopped): what the trial is
        judged by, whatever it prints until it ends."""
        with self._tx():
            self.conn.execute("UPDATE trials SET pruned_step = ? WHERE group_id = ? AND "
                              "number = ? AND state = 'running'", (step, group_id, number))

    def trial_attrs(self, group_id: int, number: int, attrs: dict) -> None:
        """The sampler's and pruner's notes on a trial (Optuna's system attrs), as they
        change: rungs reached, a sampler's state."""
        with self._tx():
            self.conn.execute("UPDATE trials SET attrs = ? WHERE group_id = ? AND number = ?",
                              (dumps(attrs), group_id, number))

    def set_search(self, group_id: int, *, state: str | None = None,
                   reason: str | None = None, budget: int | None = None,
                   fresh_start: bool = False) -> None:
        """A search's state (running, finished, stopped, failed), why, and its budget;
        `fresh_start` (an extended search): failures told so far no longer count in a row."""
        with self._tx():
            self.conn.execute(
                "UPDATE searches SET state = coalesce(?, state), reason = ?, "
                "budget = coalesce(?, budget), updated_at = ?, told_from = CASE WHEN ? THEN "
                "(SELECT coalesce(max(told), 0) FROM trials WHERE group_id = ?) "
                "ELSE told_from END WHERE group_id = ?",
                (state, text(reason), budget, now_iso(), fresh_start, group_id, group_id))

    def resolve_after_search(self, run_id: int, *, command: list[str], params: dict,
                             env: dict, depends: list[int], spec_key: str,
                             message: str) -> None:
        """A run that waited for a search gets its best trial's values: `{best.KEY}` filled
        in its command, the best run as a dependency, and stops waiting."""
        with self._tx():
            self.conn.execute(
                "UPDATE runs SET command = ?, params = ?, env = ?, depends_on = ?, "
                "spec_key = ?, after_search = NULL WHERE id = ? AND state = 'queued'",
                (dumps(command), dumps(params), dumps(env), dumps(depends), spec_key, run_id))
            self._event(run_id, "search", None, message)
            self.queue_moves.add(run_id)
