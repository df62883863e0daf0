"""The app's view of a run: a light row read straight from SQLite, cheap for 10,000 runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from core.models import RunState, epoch_from_iso

_STATES = {state.value: state for state in RunState}


def _list(text: str) -> tuple:
    return () if text == "[]" else tuple(json.loads(text))


def _table(text: str, seen: dict) -> dict:
    """JSON objects, parsed once per distinct text (runs of a sweep share theirs)."""
    value = seen.get(text)
    if value is None:
        value = seen[text] = json.loads(text)
    return value


@dataclass(eq=False, slots=True)
class RunRow:
    id: int
    name: str
    state: RunState
    reason: str | None
    exit_code: int | None
    target: str
    gpu_ids: tuple[int, ...]
    gpu_count: int
    template_json: str            # parsed only when needed (filter by text, dialogs)
    params: dict
    tags: tuple[str, ...]
    parent: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    metrics: dict
    group: int | None = None               # the sweep or chain it was launched in
    detail: str | None = None              # while running, its target's word (Slurm's job state)
    cause: str | None = None               # why it ended, for machines ("pruned", "stop_rule")
    signature: tuple = field(default=())   # what the list shows changes iff this does
    _epochs: tuple | None = None           # (started, finished), parsed when first needed
    # While queued: the runs, groups (a whole sweep) and search (its best trial) it waits for.
    depends_on: tuple[int, ...] = ()
    after_groups: tuple[int, ...] = ()
    after_search: int | None = None

    @classmethod
    def from_sql(cls, row, seen: dict | None = None) -> "RunRow":
        """A row from core.store.runlist_queries (its LIST_COLUMNS, in that order)."""
        (run_id, name, state, reason, exit_code, target, gpu_ids, gpus, template, params,
         tags, parent, created_at, started_at, finished_at, metrics, group, detail,
         cause, depends_on, after_groups, after_search) = row
        seen = {} if seen is None else seen
        return cls(run_id, name or "run", _STATES[state], reason, exit_code, target,
                   _list(gpu_ids), gpus or 0, template, _table(params, seen), _list(tags),
                   parent, created_at, started_at, finished_at, json.loads(metrics), group,
                   detail, cause, (state, reason, gpu_ids, started_at, finished_at, metrics,
                                   tags, detail, depends_on, after_groups, after_search),
                   depends_on=_list(depends_on or "[]"),
                   after_groups=_list(after_groups or "[]"), after_search=after_search)

    @classmethod
    def from_json(cls, data: dict) -> "RunRow":
        """A row from the engine's JSON of a run (a launch or clone reply)."""
        return cls(id=data["id"], name=data["name"], state=RunState(data["state"]),
                   reason=data["reason"], exit_code=data["exit_code"], target=data["target"],
                   gpu_ids=tuple(data["gpus"]), gpu_count=data["gpu_count"],
                   template_json=json.dumps(data["command"]), params=data["params"],
                   tags=tuple(data["tags"]), parent=data["parent"],
                   created_at=data["created_at"], started_at=data["started_at"],
                   finished_at=data["finished_at"], metrics=data["metrics"],
                   group=data.get("group"), detail=data.get("detail"),
                   cause=data.get("cause"), signature=("from-reply",),
                   depends_on=tuple(data.get("depends_on") or ()),
                   after_groups=tuple(data.get("after_groups") or ()),
                   after_search=data.get("after_search"))

    @property
    def waits_for(self) -> str:
        """What a queued run waits for, in words ("" when nothing)."""
        parts = []
        if self.depends_on:
            many = len(self.depends_on) > 1
            shown = ", ".join(map(str, self.depends_on[:5]))
            more = f" and {len(self.depends_on) - 5} more" if len(self.depends_on) > 5 else ""
            parts.append(f"run{'s' if many else ''} {shown}{more}")
        parts += [f"every run of group {g}" for g in self.after_groups]
        if self.after_search is not None:
            parts.append(f"search {self.after_search}'s best trial")
        return ", ".join(parts)

    @property
    def template(self) -> list[str]:
        return json.loads(self.template_json)

    def _times(self) -> tuple:
        """(started, finished) in epoch seconds, parsed on first use: most of 10,000 rows
        are never looked at."""
        if self._epochs is None:
            self._epochs = (epoch_from_iso(self.started_at), epoch_from_iso(self.finished_at))
        return self._epochs

    @property
    def started(self) -> float | None:
        return self._times()[0]

    @property
    def finished(self) -> float | None:
        return self._times()[1]

    @property
    def active(self) -> bool:
        return self.state in (RunState.QUEUED, RunState.RUNNING)

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started
