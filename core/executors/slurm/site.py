"""Where a slurm target's commands run and its runs live: this machine, or a login node over SSH.

`LocalSite` (no `host`): sbatch, squeue and scancel run here with the engine's environment;
a run's folder is the store's own `runs/<id>/` (its private code copy in `code/`), which the
cluster must share (the store on a shared filesystem), so the job writes its output and
exit status straight into the folder every viewer reads.

`RemoteSite` (`host`): the commands run on the login node over the shared SSH connection
(core.remote); code goes into the login node's blob store and each run gets its folder
`WORK/runs/<store>/<id>-<created>/` (the cluster must share WORK with its nodes). Output and
metrics are mirrored into the local run folder by byte offset while the job runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ExecutorError
from core.executors.base import Context, Exit, parse_status
from core.models import Run
from core.executors.local import prepare_wrapper_files
from core.paths import WRAPPER
from core.remote.box import Completed
from core.remote.scripts import installed_name
from core.store.snapshot import materialize

SLURM_COMMANDS = ("sbatch", "squeue", "scancel", "sinfo")
STATUS_GRACE = 5.0          # how long an ended job's exit_status may take to show up


class SlurmError(ExecutorError):
    """A Slurm command failed; `transient` when the controller could not be reached."""


@dataclass(frozen=True)
class Placed:
    """A run whose folder and code are ready on the cluster's filesystem."""

    run_dir: str            # absolute, as the job sees it
    workdir: str
    env: dict[str, str]
    handle: dict            # what the site needs later (merged into the run's handle)


class LocalSite:
    remote = False

    def __init__(self, name: str, context: Context, timeout: float):
        self.name = name
        self.context = context
        self.timeout = timeout
        self.label = "this machine"
        self.root = context.paths.home / "slurm"
        self.statuses = StatusFiles()

    async def reach(self) -> None:
        missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
        if missing:
            raise SlurmError(f"{', '.join(missing)} not found on the engine's PATH "
                             f"({os.environ.get('PATH', '')})", target=self.name,
                             hint="install the Slurm client commands here, or set host to "
                                  "submit through a login node")

    async def command(self, argv: list[str], *, what: str, input: bytes | None = None) -> Completed:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True,
                umask=-1 if self.context.run_umask is None else self.context.run_umask)
        except OSError as exc:
            raise SlurmError(f"cannot run {argv[0]}: {exc.strerror or exc}",
                             target=self.name) from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise SlurmError(f"{argv[0]} did not answer within {self.timeout:.0f} s while "
                             f"{what}", target=self.name, transient=True) from None
        assert proc.returncode is not None, "communicate() returns once the process ended"
        return Completed(proc.returncode, out, err)

    @property
    def wrapper(self) -> str:
        return str(self.root / "bin" / installed_name(WRAPPER))

    @property
    def chdir(self) -> str:
        return str(self.context.paths.runs)

    async def prepare(self, run: Run, env: dict[str, str]) -> Placed:
        run_dir = self.context.paths.run_dir(run.id)
        try:
            await asyncio.to_thread(self._prepare, run, run_dir)
        except OSError as exc:
            raise SlurmError(f"cannot prepare the run folder {run_dir}: {exc.strerror or exc}",
                             target=self.name) from None
        code = run_dir / "code"
        return Placed(str(run_dir), str(code / run.workdir if run.workdir else code), env, {})

    def _prepare(self, run: Run, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        for leftover in ("exit_status", "exit_status.tmp", "pid"):
            (run_dir / leftover).unlink(missing_ok=True)
        prepare_wrapper_files(run_dir)
        code = run_dir / "code"
        if code.exists():                        # an earlier start was interrupted
            shutil.rmtree(code)
        if run.snapshot:
            materialize(run.snapshot, self.context.blobs, code)
        else:
            code.mkdir()
        (run_dir / "output.log").touch()
        wrapper = Path(self.wrapper)
        if not wrapper.exists():
            wrapper.parent.mkdir(parents=True, exist_ok=True)
            tmp = wrapper.with_name(f"{wrapper.name}.{secrets.token_hex(4)}.tmp")  # starts race
            shutil.copyfile(WRAPPER, tmp)
            os.replace(tmp, wrapper)

    async def submit(self, flags: list[str], script: str, links: dict[str, str]) -> Completed:
        """sbatch with the script on stdin, after making the array's output links."""
        try:
            await asyncio.to_thread(_make_links, links)
        except OSError as exc:
            raise SlurmError(f"cannot write {self.root}: {exc.strerror or exc}",
                             target=self.name) from None
        return await self.command(["sbatch", *flags], what="submitting", input=script.encode())

    def array_dir(self, nonce: str) -> str:
        return str(self.root / "arrays" / nonce)

    def follow(self, run: Run, handle: dict) -> "LocalFollow":
        return LocalFollow(self.context.paths.run_dir(run.id), self.statuses)

    def health(self) -> tuple[str, str | None] | None:
        return None

    def available(self) -> bool:
        """This machine is always there (whether Slurm answers is the executor's to tell)."""
        return True

    async def close(self) -> None:
        await self.statuses.close()


class StatusFiles:
    """Tells when runs' exit_status files appear: one look at all of them every INTERVAL,
    in a thread (a stat on a shared filesystem may be slow)."""

    INTERVAL = 0.2

    def __init__(self):
        self.watched: dict[Path, asyncio.Event] = {}
        self._task: asyncio.Task | None = None

    def watch(self, path: Path) -> asyncio.Event:
        event = self.watched.setdefault(path, asyncio.Event())
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="slurm exit statuses")
        return event

    def forget(self, path: Path) -> None:
        self.watched.pop(path, None)

    async def _loop(self) -> None:
        while self.watched:
            paths = list(self.watched)
            present = await asyncio.to_thread(lambda: [p for p in paths if p.exists()])
            for path in present:
                event = self.watched.pop(path, None)
                if event is not None:
                    event.set()
            await asyncio.sleep(self.INTERVAL)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class LocalFollow:
    """A local run's exit status: the job writes it into the run folder itself."""

    def __init__(self, run_dir: Path, statuses: StatusFiles):
        self.status_file = run_dir / "exit_status"
        self.statuses = statuses

    async def finish(self, expect_status: bool) -> tuple[Exit | None, float | None]:
        deadline = asyncio.get_running_loop().time() + (STATUS_GRACE if expect_status else 0)
        while True:
            found = await asyncio.to_thread(self._read)
            if found is not None or asyncio.get_running_loop().time() >= deadline:
                return found if found is not None else (None, None)
            await asyncio.sleep(0.2)

    async def status_seen(self) -> None:
        """Returns once the run has written its exit status (the job is about to end)."""
        await self.statuses.watch(self.status_file).wait()

    def _read(self):
        try:
            status = parse_status(self.status_file.read_text(errors="replace"))
            return (status, self.status_file.stat().st_mtime) if status else None
        except FileNotFoundError:
            return None

    def close(self) -> None:
        self.statuses.forget(self.status_file)


def _make_links(links: dict[str, str]) -> None:
    for link, target in links.items():
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
