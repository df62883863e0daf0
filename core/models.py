"""The run lifecycle and the plain records that describe runs and targets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

from core.requests import STORED_DEFAULT_POLICY, RunPolicy


class RunState(str, Enum):
    """Where a run is in its life. Each state change is stored with its timestamp.

    queued -> running -> succeeded | failed | cancelled | stopped | lost
    queued -> cancelled | failed (could not start, or a dependency did not succeed)

    `stopped`: a stop rule (`--stop-if`) fired, or a search's pruner judged it, and the
    run was ended like a cancel.
    Why a run ended is also kept, machine-readable, in `Run.cause` (see CAUSES).
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED,
                             RunState.STOPPED, RunState.LOST})
ACTIVE_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})

ALLOWED_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED,
                                 RunState.STOPPED, RunState.LOST, RunState.QUEUED}),
}

# Machine-readable reasons a run ended the way it did (`Run.cause`, JSON `cause`); None
# for a plain exit, crash or user cancel, where `state` and `reason` say it all.
CAUSES = {
    "dependency": "failed without starting: a run it depends on (--after) did not succeed",
    "stop_rule": "stopped: a --stop-if rule fired (the rule is in `reason`)",
    "replaced": "cancelled while queued: a newer change of its watch replaced it",
    "pruned": "stopped: its search's pruner judged it (the step, rung and value in `reason`)",
}
# Causes of `stopped`: the run was ended like a cancel, and ends stopped, not cancelled.
STOP_CAUSES = ("stop_rule", "pruned")


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a Z suffix."""
    return iso_from_epoch(time.time())


def iso_from_epoch(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_from_iso(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class RunSpec:
    """What a run is: everything needed to start it, and nothing about how it went."""

    command: list[str]                      # the argv that runs, placeholders filled in
    template: list[str]                     # the argv as given, `{key}` placeholders kept
    params: dict                            # knobs inferred from the argv or --set
    overrides: dict[str, str] = field(default_factory=dict)  # --set values, as text
    target: str = "local"
    gpus: int = 0                           # how many GPUs the run asks for
    env: dict[str, str] = field(default_factory=dict)  # explicit --env / config env
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    parent: int | None = None
    priority: int = 0
    # dependencies (run ids), retries, stop rules, checkpoints; every default filled in
    policy: RunPolicy = field(default_factory=lambda: STORED_DEFAULT_POLICY)


@dataclass
class Run:
    """A run as stored: its spec plus what happened to it."""

    id: int
    spec: RunSpec
    state: RunState
    snapshot: str | None
    project: str
    workdir: str
    reason: str | None = None
    exit_code: int | None = None
    gpu_ids: list[int] = field(default_factory=list)
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    metrics: dict = field(default_factory=dict)
    handle: dict = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool = False
    cancel_requested: bool = False
    group_id: int | None = None
    attempt: int = 1
    retry_of: int | None = None             # the first attempt, for attempts 2 and later
    retried_as: int | None = None           # the next attempt, when this one was retried
    not_before: str | None = None           # a retry waits until then (backoff)
    avoid_gpus: list[int] = field(default_factory=list)   # GPUs this attempt ran out of memory on
    cause: str | None = None
    resume_from: str | None = None          # the path it read its checkpoint by, once started
    resume_point: str | None = None         # that checkpoint: RUN:PATH (core.engine.resuming)
    spec_key: str | None = None
    detail: str | None = None               # what the target says while it runs (Slurm)

    @property
    def name(self) -> str:
        return self.spec.name or default_name(self.spec.command)


@dataclass(frozen=True)
class FileStat:
    """One regular file in a run's code folder, as its target sees it."""

    path: str           # relative to the run's code folder, "/"-separated, valid UTF-8
    size: int
    mtime: float        # seconds since the epoch, by the target's clock
    stamp: str          # size, mtime, inode and ctime: a file that may have changed gets a new one


@dataclass(frozen=True)
class Listing:
    """What a target found in a run's code folder."""

    files: list[FileStat]
    now: float                  # the target's clock when it looked (for trusting old hashes)
    unlisted: int = 0           # files whose names cannot be listed (a newline, not UTF-8)


_INTERPRETERS = {"python", "python3", "uv", "bash", "sh", "node", "julia", "Rscript", "torchrun",
                 "accelerate", "deepspeed", "env", "nice", "time", "srun", "run", "exec"}


def default_name(argv: list[str]) -> str:
    """A short name for a run from its command: `python train.py --lr 1` -> `train`."""
    for word in argv:
        if " " in word.strip():                  # a script given inline: sh -c 'sleep 1; ...'
            return default_name([w.strip(";&|()") for w in word.split()])
        base = word.rsplit("/", 1)[-1]
        if not base or word.startswith("-") or "=" in word:
            continue
        stem = base.rsplit(".", 1)[0] if base.endswith((".py", ".sh", ".jl", ".R", ".js")) else base
        if base.split(".")[0] in _INTERPRETERS or base.startswith("python"):
            continue
        return stem[:40]
    return argv[0].rsplit("/", 1)[-1] if argv else "run"
