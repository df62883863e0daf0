"""A slurm target's login node, reached over SSH: commands, code delivery and output mirroring.

Reuses core.remote as the ssh target does: one shared connection per box (`pool`), code sent
into the box's own blob store (`transfer`), and run files mirrored into the local run folder
by byte offset (`mirror`, with pid 0: a job has no process the login node can see, so a
run is followed until its exit_status appears). Every command goes to the box as a POSIX sh
script on stdin, so any login shell works, and replies are found among whatever the box's rc
files print.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import AsyncIterator

from core.errors import ExecutorError
from core.executors.base import Context, Exit, parse_status
from core.executors.slurm.site import SLURM_COMMANDS, STATUS_GRACE, Placed, SlurmError
from core.models import Listing, Run
from core.remote import pool, runfiles, runfolder
from core.remote.box import Completed
from core.remote.mirror import Watch, local_copies, reset_local
from core.remote.scripts import quote
from core.remote.settings import DEFAULT_WORK_DIR, SshSettings


class RemoteSite:
    remote = True

    def __init__(self, name: str, context: Context, options: dict):
        self.name = name
        self.context = context
        self.settings = SshSettings.from_options(options)
        self.box = pool.acquire(self.settings, options.get("work_dir", DEFAULT_WORK_DIR))
        self.mirror = pool.mirror(self.box)
        self.store = runfolder.store_key(context.paths.home)
        self.label = self.box.label
        self._checked = False

    async def reach(self):
        facts = await self.box.ready()
        if not self._checked:
            names = " ".join(SLURM_COMMANDS)
            reply = await self.box.script(
                f"for c in {names}; do command -v $c >/dev/null 2>&1 || echo \"MISSING $c\"; "
                "done; echo CHECKED\n", what="looking for the Slurm commands")
            missing = [line.split()[1] for line in reply.text().splitlines()
                       if line.startswith("MISSING ")]
            if missing:
                raise SlurmError(f"{self.label}: {', '.join(missing)} not found on the PATH of a "
                                 "non-interactive login there", target=self.name,
                                 hint=f"check with: {self.settings.ssh_command} 'command -v "
                                      "sbatch'; the PATH must come from files a non-interactive "
                                      "shell reads (e.g. ~/.bashrc before any early return)")
            if "CHECKED" in reply.text():
                self._checked = True
        return facts

    async def command(self, argv: list[str], *, what: str) -> Completed:
        await self.reach()
        return await self.box.script(" ".join(quote(a) for a in argv) + "\n", what=what)

    @property
    def wrapper(self) -> str:
        return f"{self.box.reached.work}/bin/{self.box.reached.wrapper}"

    @property
    def chdir(self) -> str:
        return f"{self.box.reached.work}/runs/{self.store}"

    def run_dir(self, run: Run) -> str:
        return runfolder.folder_name(self.store, run)

    async def prepare(self, run: Run, env: dict[str, str]) -> Placed:
        facts = await self.reach()
        run_dir = self.run_dir(run)
        await asyncio.to_thread(reset_local, self.context.paths.run_dir(run.id))
        try:
            prepared = await runfolder.prepare_run(self.box, run_dir, run.snapshot,
                                                   self.context.blobs,
                                                   what=f"preparing run {run.id}")
        except ExecutorError as exc:
            exc.target = self.name
            raise
        handle = {"box": self.label, "work": facts.work, "run_dir": run_dir,
                  **prepared.sent_record()}
        remote = prepared.answer[len("READY "):].strip()
        code = f"{remote}/code"
        return Placed(remote, f"{code}/{run.workdir}" if run.workdir else code,
                      runfolder.run_env(env, facts.work, remote), handle)

    def array_dir(self, nonce: str) -> str:
        return f"{self.box.reached.work}/slurm/{self.store}/arrays/{nonce}"

    async def submit(self, flags: list[str], script: str, links: dict[str, str]) -> Completed:
        """One round trip: the array's output links, then sbatch with the script inline."""
        facts = await self.reach()
        marker = f"RUNYARD_BATCH_END_{secrets.token_hex(8)}"
        assert marker not in script
        err = f"slurm/{self.store}/sbatch-{secrets.token_hex(4)}.err"
        lines = ["fail() { echo \"ERR $*\"; exit 0; }",
                 f"cd {quote(facts.work)} || fail 'cannot enter the work folder'",
                 f"mkdir -p slurm/{self.store} || fail \"cannot write $PWD/slurm\""]
        for folder in sorted({link.rsplit("/", 1)[0] for link in links}):
            lines.append(f"mkdir -p {quote(folder)} || fail \"cannot create {folder}\"")
        for link, target in links.items():
            lines.append(f"ln -s {quote(target)} {quote(link)} || fail \"cannot link {link}\"")
        lines += [f"out=$(sbatch {' '.join(quote(f) for f in flags)} 2> {err} <<'{marker}'",
                  script + marker, ")", "code=$?",
                  'printf "SBATCH %s %s\\n" "$code" "$(echo $out)"',
                  f"cat {err} >&2; rm -f {err}"]
        reply = await self.box.script("\n".join(lines) + "\n", what="submitting to Slurm")
        line = reply.reply("SBATCH", "ERR")
        if line.startswith("ERR "):
            raise SlurmError(f"{self.label}: {line[4:]}", target=self.name)
        words = line.split(" ", 2)
        if len(words) < 2 or not words[1].isdigit():
            raise SlurmError(f"{self.label}: unexpected reply from sbatch: "
                             f"{reply.text()[-200:]!r} {reply.error_text()}", target=self.name)
        return Completed(int(words[1]), (words[2] if len(words) > 2 else "").encode(),
                         reply.stderr)

    def follow(self, run: Run, handle: dict) -> "RemoteFollow":
        local = self.context.paths.run_dir(run.id)
        watch = self.mirror.add(Watch(handle["run_dir"], local_copies(local),
                                      pid=0, start_time=None))
        return RemoteFollow(self.mirror, watch)

    # ------------------------------------------------------------ a run's files (on the box)

    async def list_files(self, handle: dict) -> Listing:
        return await self._named(runfiles.list_files(self.box, handle["run_dir"]))

    async def hash_files(self, handle: dict, paths: list[str]) -> dict[str, str]:
        return await self._named(runfiles.hash_files(self.box, handle["run_dir"], paths))

    async def fetch_files(self, handle: dict,
                          wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
        await self.reach()
        try:
            async for item in runfiles.fetch_files(self.box, handle["run_dir"], wanted):
                yield item
        except ExecutorError as exc:
            exc.target = self.name
            raise

    def files_location(self, handle: dict | None) -> str:
        """Where a run's files are; with no handle, where this target's new runs are."""
        if handle is None:
            return runfiles.location({"box": self.label, "work": self.box.reached.work})
        return runfiles.location(handle)

    def file_address(self, handle: dict, path: str) -> str:
        return runfiles.address(handle, path)

    async def stage_files(self, folder: Path, files: dict[str, str]) -> str:
        return await self._named(runfiles.stage_files(self.box, folder, files,
                                                      self.context.blobs))

    async def _named(self, work):
        try:
            return await work
        except ExecutorError as exc:
            exc.target = self.name
            raise

    def health(self) -> tuple[str, str | None] | None:
        if self.box.state in ("unreachable", "error"):
            return self.box.state, self.box.message
        return None

    def available(self) -> bool:
        if self.box.state != "unreachable":
            return True
        self.box.keep_trying()
        return False

    async def close(self) -> None:
        await pool.release(self.box)


class RemoteFollow:
    """A remote run's files, mirrored while its job runs; its exit status when it ends."""

    def __init__(self, mirror, watch):
        self.mirror = mirror
        self.watch = watch

    async def finish(self, expect_status: bool) -> tuple[Exit | None, float | None]:
        try:
            end = await asyncio.wait_for(asyncio.shield(self.watch.done),
                                         STATUS_GRACE if expect_status else 0.05)
        except asyncio.TimeoutError:
            await self._catch_up()               # no status will come: copy what is there
            return None, None
        status = parse_status(end.status) if end.status is not None else None
        ended_at = min(end.ended_at, time.time()) if end.ended_at else None    # box clock
        return status, ended_at

    async def status_seen(self) -> None:
        """Returns once the mirror saw the run's exit status (the job is about to end)."""
        await self.watch.stopped.wait()

    async def _catch_up(self) -> None:
        for _attempt in range(50):
            try:
                if not await self.mirror.poll_once():
                    return
            except (ExecutorError, OSError):
                return                           # the box is gone again: the log stays short

    def close(self) -> None:
        self.mirror.forget(self.watch)
