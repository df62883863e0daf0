"""The one contract every target kind implements: `Executor`, and what its methods return.

The engine makes one executor per target and talks to it only through this class: it
never asks which kind a target is, and never probes for a method. Every capability a kind
may lack has a default here, so a new kind overrides what it has and inherits the rest.

Required (abstract):
- `start(run, env)`: start the run and return a JSON-able handle (pid, container id, job
  id...), which the engine records before anything else. Raise `ExecutorError` if it cannot
  start; with `transient=True` ("try later": the target is out of reach) the run is queued
  again instead of failing.
- `wait(run, handle)`: wait until the run ends and return its `Exit`; works for a run this
  engine started and for one a restarted engine attaches to by its recorded handle (a
  fresh executor instance, after the last engine was killed with SIGKILL). Remote kinds
  mirror the run's output into the local run folder (`runs/<id>/output.log`) meanwhile.
- `recover(run)`: after an engine crash between `start` and the handle being recorded,
  find the run's handle if it started, or return None (the engine queues it again).
- `cancel(run, handle, grace)`: THE CANCEL CONTRACT. SIGTERM to the run's whole process
  tree (the command and everything it started), `grace` seconds for it to end, then
  SIGKILL to whatever is left of the tree; every process is reaped (by this engine, the
  box's init, the container runtime or Slurm), none is left behind or a zombie. `wait`
  then returns the run's Exit. A target out of reach may defer the cancel until it
  answers, raising `ExecutorError` to say so.

Optional, with defaults (override what the kind has):
- `gpus()`: the target's GPUs for `gpus = "auto"`, and a problem text; default: none.
- `reach()`: connect or raise `ExecutorError` (transient when waiting may help); default:
  nothing to reach.
- `health()`: `(status, message)` with status ok/unreachable/error, for `tui targets`;
  default None: nothing to add to what the engine knows.
- `probe()`: ask the target now whether it answers (for `tui targets`); the problem text
  or None; default None.
- `available()`: False holds the target's queued runs (a box that does not answer);
  default True.
- `forget(run, handle)`: delete an ended, removed run's traces on the target (`tui rm`);
  default: nothing to delete.
- `close()`: release connections; runs keep running. Default: nothing to release.

A run's files (`tui files`, `tui pull`, declared outputs, resuming from a checkpoint), with
defaults for kinds whose run folders are on this machine (`runs/<id>/code`); the remote
kinds override them and keep the files where the run wrote them:
- `list_files(run, handle)`: every regular file of the run's code folder (`Listing`).
- `hash_files(run, handle, paths)`: their sha256, computed where they are.
- `fetch_files(run, handle, wanted)`: the bytes of (path, offset) pairs, as (index, chunk)
  in order; only these bytes travel, so a pull that was cut off resumes where it stopped.
- `files_location(handle)`, `file_address(run, handle, path)`: where a run's files are
  ("here" for this machine) and one file's address there, as opaque text.
- `resume_path(run, location, address)`: for a run about to start on this target, the
  path it reads a checkpoint at `address` in `location` by, when it can without a copy
  (the same machine or box); default: this machine's paths, for kinds that see them.
- `stage_files(run, folder, files)`: make these files (a checkpoint pulled into `folder`
  on this machine) readable by the run about to start; the folder's path as the run sees
  it. Default: `folder` itself (kinds that see this machine's files).

Capabilities (class attributes; an instance may set its own when it depends on settings):
- `places_gpus`: the target picks GPUs itself (Slurm: `--gpus N` is passed on, runyard
  hands out no ids).
- `takes_shell_env`: runs get the launching shell's environment (local runs do; remote
  ones get what their machine gives them).
- `run_folders_here`: a run's folder (`runs/<id>/`, its code copy and the checkpoints it
  writes) is on this machine at the path the engine knows, and the run sees it there. Only
  then does the engine hand a run paths of other runs' folders (`RUNYARD_RESUME_FROM`,
  `RUNYARD_AFTER_DIRS`), accept `tui clone --resume`, or read checkpoints to resume a retry.
- `removes_remote_folders`: a run leaves a folder on another machine that `forget()`
  deletes; the engine does that in the background, since the machine may be slow or down.
- `may_be_unreachable`: the target can be out of reach for a while (a box, a daemon, a
  controller): `start` then raises a transient `ExecutorError` and `health()` says
  "unreachable". Local runs are never out of reach.

Executors report what their target says about a running run (Slurm: "job 12 pending
(Priority)") through `Context.on_detail`, and a change of health through
`Context.on_health`.
"""

from __future__ import annotations

import abc
import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable, ClassVar

from core.store.blobs import BlobStore
from core.config import TargetConfig
from core.errors import ExecutorError
from core.gpus import Gpu
from core.executors import folder_files
from core.models import Listing, Run
from core.paths import StorePaths


HERE = "here"           # files_location() of runs whose files are on this machine


@dataclass(frozen=True)
class Exit:
    """How a run ended: its exit code if known, why, and whether it vanished (lost)."""

    exit_code: int | None
    reason: str | None = None
    lost: bool = False
    ended_at: float | None = None      # epoch seconds, when known (e.g. while the engine was down)
    cancelled: bool = False            # ended by a cancel from outside runyard (Slurm's scancel)
    leftovers: str | None = None       # processes the run left running, ended after it (which)


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
    # The umask a run's processes get (the launching shell's; the engine's own is 077).
    run_umask: int | None = None


class Executor(abc.ABC):
    """A target kind; see the module docstring for the contract and the defaults."""

    kind: ClassVar[str]
    places_gpus: bool = False
    takes_shell_env: bool = False
    run_folders_here: bool = False
    removes_remote_folders: bool = False
    may_be_unreachable: bool = False

    def __init__(self, target: TargetConfig, context: Context):
        self.target = target
        self.context = context

    @abc.abstractmethod
    async def start(self, run: Run, env: dict[str, str]) -> dict:
        """Start the run; its handle (recorded by the engine)."""

    @abc.abstractmethod
    async def wait(self, run: Run, handle: dict) -> Exit:
        """Until the run ends (attaching by `handle` after a restart); how it ended."""

    @abc.abstractmethod
    async def recover(self, run: Run) -> dict | None:
        """The handle of a run whose start was not recorded, or None if it never started."""

    @abc.abstractmethod
    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        """SIGTERM to the whole tree, `grace` seconds, SIGKILL to what is left; reaped."""

    async def gpus(self) -> tuple[list[Gpu], str | None]:
        """The GPUs `gpus = "auto"` finds, and why detection failed; default: none, no problem."""
        return [], None

    async def reach(self) -> object:
        """Connect, or raise ExecutorError (transient when waiting may help); default: there
        is nothing to connect to."""
        return None

    def health(self) -> tuple[str, str | None] | None:
        """(status, message); default None: nothing to add to what the engine knows."""
        return None

    async def probe(self) -> str | None:
        """Ask the target now; why it does not answer, or None (default: nothing to ask)."""
        return None

    def available(self) -> bool:
        """Whether queued runs may start now; default: always."""
        return True

    async def forget(self, run: Run, handle: dict) -> None:
        """Delete a removed run's traces on the target; default: it left none there."""
        return None

    async def close(self) -> None:
        """Release connections (runs keep running); default: none held."""
        return None

    # ------------------------------------------------------------ a run's files

    def code_folder(self, run: Run) -> Path:
        """The run's code folder on this machine (for the defaults below)."""
        return self.context.paths.run_dir(run.id) / "code"

    async def list_files(self, run: Run, handle: dict) -> Listing:
        """Every regular file in the run's code folder; default: the folder on this machine."""
        code = self.code_folder(run)
        if not await asyncio.to_thread(code.is_dir):
            raise ExecutorError(f"run {run.id} has no code folder at {code} (it never "
                                "started, or the folder was deleted)", target=self.target.name)
        return await asyncio.to_thread(folder_files.list_folder, code)

    async def hash_files(self, run: Run, handle: dict, paths: list[str]) -> dict[str, str]:
        """sha256 of these files (paths as listed); default: hashed on this machine."""
        return await asyncio.to_thread(folder_files.hash_paths, self.code_folder(run), paths)

    def fetch_files(self, run: Run, handle: dict,
                    wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
        """The bytes of each (path, offset), as (index into `wanted`, chunk), in order; a
        file that is gone yields nothing. Default: read on this machine."""
        return folder_files.read_files(self.code_folder(run), wanted)

    def files_location(self, handle: dict) -> str:
        """Where the run's files are, as text equal for runs that can read each other's
        files in place; default "here" (this machine)."""
        return HERE

    def file_address(self, run: Run, handle: dict, path: str) -> str:
        """One file's address in `files_location`; default its absolute path here."""
        return str(self.code_folder(run) / path)

    async def resume_path(self, run: Run, location: str, address: str) -> str | None:
        """The path by which `run` (about to start here) reads the file at `address`
        without a copy, or None; default: this machine's paths, if the run sees them."""
        return address if location == HERE and self.run_folders_here else None

    async def stage_files(self, run: Run, folder: Path, files: dict[str, str]) -> str:
        """Make `files` (paths under `folder` on this machine, with their sha256) readable
        by `run`, about to start; the folder's path as the run sees it. Default: the same
        folder."""
        return str(folder)


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
