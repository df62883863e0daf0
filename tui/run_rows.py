"""The app's view of a run: a light row read straight from SQLite, cheap for 10,000 runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from core.models import RunState, epoch_from_iso

# The columns the run list needs; the rest (handle, options, env...) is read on demand.
COLUMNS = ("id, name, state, reason, exit_code, target, gpu_ids, gpus, template, params, "
           "tags, parent, created_at, started_at, finished_at, metrics")


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
    started: float | None         # epoch seconds
    finished: float | None
    metrics: dict
    signature: tuple = field(default=())   # what the list shows changes iff this does

    @classmethod
    def from_sql(cls, row) -> "RunRow":
        (run_id, name, state, reason, exit_code, target, gpu_ids, gpus, template, params,
         tags, parent, created_at, started_at, finished_at, metrics) = row
        return cls(id=run_id, name=name or "run", state=RunState(state), reason=reason,
                   exit_code=exit_code, target=target, gpu_ids=tuple(json.loads(gpu_ids)),
                   gpu_count=gpus or 0, template_json=template, params=json.loads(params),
                   tags=tuple(json.loads(tags)), parent=parent, created_at=created_at,
                   started=epoch_from_iso(started_at), finished=epoch_from_iso(finished_at),
                   metrics=json.loads(metrics),
                   signature=(state, reason, gpu_ids, started_at, finished_at, metrics, tags))

    @classmethod
    def from_json(cls, data: dict) -> "RunRow":
        """A row from the engine's JSON of a run (a launch or clone reply)."""
        return cls(id=data["id"], name=data["name"], state=RunState(data["state"]),
                   reason=data["reason"], exit_code=data["exit_code"], target=data["target"],
                   gpu_ids=tuple(data["gpus"]), gpu_count=data["gpu_count"],
                   template_json=json.dumps(data["command"]), params=data["params"],
                   tags=tuple(data["tags"]), parent=data["parent"],
                   created_at=data["created_at"], started=epoch_from_iso(data["started_at"]),
                   finished=epoch_from_iso(data["finished_at"]), metrics=data["metrics"],
                   signature=("from-reply",))

    @property
    def template(self) -> list[str]:
        return json.loads(self.template_json)

    @property
    def active(self) -> bool:
        return self.state in (RunState.QUEUED, RunState.RUNNING)

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started
