"""The small protocol every target kind implements, and what it returns.

An executor is created once per target by the engine. Its methods:

- `start(run, env)`: start the run and return a JSON-able handle (pid, container id, job
  id...), which the engine records. Raise `ExecutorError` if it cannot start.
- `wait(run, handle)`: wait until the run ends and return its `Exit`; works both for a run
  this engine started and for one it reattaches to after a restart. Remote executors
  mirror the run's output into the local run folder while they wait.
- `recover(run)`: after an engine crash between `start` and the handle being recorded,
  find the run's handle if it started, or return None (the engine then queues it again).
- `cancel(run, handle, grace)`: SIGTERM to the whole process tree, `grace` seconds, then
  SIGKILL; the run's processes are always reaped.
- `gpus()`: the target's GPUs for `gpus = "auto"`, and a problem text if detection failed.
- `close()`: release connections; runs keep running.

Optional, for targets that can be unreachable (ssh): `health() -> (status, message)`,
`available() -> bool` (False: the scheduler holds the target's queued runs) and
`reach()` (connect or raise). An `ExecutorError` with `transient = True` from `start`
means "try later": the run is queued again instead of failing.

Optional attributes: `places_gpus = True` when the target picks GPUs itself (Slurm: a run's
`--gpus N` is passed on, runyard hands out no ids); `takes_shell_env = True` when runs get
the launching shell's environment, as local runs do. Executors report what their target
says about a running run (Slurm: "job 12 pending (Priority)") through `Context.on_detail`.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from core.store.blobs import BlobStore
from core.config import TargetConfig
from core.gpus import Gpu
from core.models import Run
from core.paths import StorePaths

WRAPPER = Path(__file__).with_name("runwrap.sh")


@dataclass(frozen=True)
class Exit:
    """How a run ended: its exit code if known, why, and whether it vanished (lost)."""

    exit_code: int | None
    reason: str | None = None
    lost: bool = False
    ended_at: float | None = None      # epoch seconds, when known (e.g. while the engine was down)
    cancelled: bool = False            # ended by a cancel from outside runyard (Slurm's scancel)


@dataclass(frozen=True)
class Context:
    """What the engine lends to executors."""

    paths: StorePaths
    blobs: BlobStore
    # Remote kinds report their target's health here: (target name, status, message).
    on_health: Callable[[str, str, str | None], None] | None = None
    # What the target says about a running run: (run id, detail or None, event message or
    # None); the detail is shown with the run, the message (a state change) joins its history.
    on_detail: Callable[[int, str | None, str | None], None] | None = None


class Executor(Protocol):
    kind: str

    def __init__(self, target: TargetConfig, context: Context): ...

    async def start(self, run: Run, env: dict[str, str]) -> dict: ...

    async def wait(self, run: Run, handle: dict) -> Exit: ...

    async def recover(self, run: Run) -> dict | None: ...

    async def cancel(self, run: Run, handle: dict, grace: float) -> None: ...

    async def gpus(self) -> tuple[list[Gpu], str | None]: ...

    async def close(self) -> None: ...


def parse_status(text: str) -> Exit | None:
    """Read the wrapper's exit_status file ("CODE<TAB>REASON"); None if empty or torn."""
    code_text, _, reason = text.strip("\n").partition("\t")
    try:
        code = int(code_text.strip())
    except ValueError:
        return None
    return Exit(exit_code=code, reason=reason.strip() or describe_code(code))


def describe_code(code: int) -> str | None:
    """`137` -> "killed by signal 9 (SIGKILL)"; plain non-zero codes -> "exit code N"."""
    if code == 0:
        return None
    if 128 < code < 128 + 65:
        number = code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by signal {number} ({name})"
    return f"exit code {code}"
