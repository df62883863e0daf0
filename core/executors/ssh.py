"""The ssh target: runs on another machine over SSH; the box needs only POSIX sh and coreutils.

Where things are on the box (its work folder, default ~/.runyard):
    blobs/ab/cdef..        the box's own content-addressed store (only missing blobs are sent)
    snapshots/<id>/        a snapshot's layout as hard links into blobs/
    runs/<store>/<id>-<created>/  a run: code/ (private copy), output.log, metrics.jsonl, pid,
                           exit_status
    bin/                   runwrap.sh and the helper, named by content hash

A run is started like a local one: `setsid env ... sh runwrap.sh RUN_DIR WORKDIR -- CMD`,
output appended to its own file on the box, so the SSH connection can drop at any time.
The engine mirrors output.log and metrics.jsonl into the local run folder by byte offset
(core.remote.mirror) and learns the end from exit_status. The handle (box, run folder,
pid, process start time) lets a restarted engine reattach. A run whose process is gone
without a status (the box rebooted) is lost. The run gets the environment sshd gives a
command, plus runyard's variables (with paths on the box); never the local shell's.
Cancel: SIGTERM to the process group and every process of the tree, `grace` seconds,
then SIGKILL to whatever is left (processes are reaped by the box's init).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import AsyncIterator

from core.config import TargetConfig
from core.errors import ConfigError, ExecutorError
from core.executors.base import Context, Executor, Exit, parse_status
from core.gpus import parse_query
from core.models import Listing, Run
from core.remote import pool, runfiles, runfolder, scripts
from core.remote.mirror import Watch, local_copies, reset_local
from core.remote.settings import DEFAULT_WORK_DIR, SshSettings, check_ssh_options, check_work_dir

log = logging.getLogger("runyard.engine")



def check_options(path: Path, where: str, options: dict) -> dict:
    extra = {"work_dir": "the folder on the box for code and runs (default ~/.runyard)"}
    out = check_ssh_options(path, where, options, extra)
    if "work_dir" in options:
        out["work_dir"] = check_work_dir(path, f"{where}.work_dir", options["work_dir"])
    return out


class SshExecutor(Executor):
    kind = "ssh"
    removes_remote_folders = True       # forget() deletes a removed run's folder on the box
    may_be_unreachable = True

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        try:
            self.settings = SshSettings.from_options(target.options)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"target {target.name}: bad ssh settings: {exc}") from None
        self.box = pool.acquire(self.settings, target.options.get("work_dir", DEFAULT_WORK_DIR))
        self.mirror = pool.mirror(self.box)
        self.box.listen(self._box_changed)
        self.problem: str | None = None          # the last failure that was not the network's
        self._pending: set[asyncio.Task] = set()  # cancels waiting for the box to come back
        self.store = runfolder.store_key(context.paths.home)

    # ------------------------------------------------------------ health

    def health(self) -> tuple[str, str | None]:
        if self.box.state in ("unreachable", "error"):
            return self.box.state, self.box.message
        if self.problem:
            return "error", self.problem
        return self.box.state, None

    def available(self) -> bool:
        """False while the box is unreachable: its queued runs wait (and it is retried)."""
        if self.box.state != "unreachable":
            return True
        self.box.keep_trying()
        return False

    def _box_changed(self, state: str, message: str | None) -> None:
        if self.context.on_health is not None:
            self.context.on_health(self.target.name, *self.health())

    def _note_problem(self, message: str | None) -> None:
        if message != self.problem:
            self.problem = message
            self._box_changed(self.box.state, self.box.message)

    async def reach(self):
        """Connect (once; shared) or say why not; queued runs keep the box being retried."""
        try:
            return await self.box.ready()
        except ExecutorError as exc:
            if exc.transient:
                self.box.keep_trying()
            exc.target = self.target.name
            raise

    # ------------------------------------------------------------ runs

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        facts = await self.reach()
        folder = runfolder.folder_name(self.store, run)
        await asyncio.to_thread(reset_local, self.context.paths.run_dir(run.id))
        start = runfolder.Start(run.workdir, runfolder.run_env(env, facts.work,
                                                              f"{facts.work}/{folder}"),
                                run.spec.command)
        try:
            prepared = await runfolder.prepare_run(self.box, folder, run.snapshot,
                                                   self.context.blobs, start=start,
                                                   what=f"starting run {run.id}")
        except ExecutorError as exc:
            exc.target = self.target.name
            if not exc.transient:
                self._note_problem(exc.message)
            raise
        words = prepared.answer.split()
        if len(words) < 2 or not words[1].isdigit():
            raise ExecutorError(f"{self.box.label}: unexpected reply when starting run "
                                f"{run.id}: {prepared.answer[:200]!r}", target=self.target.name)
        self._note_problem(None)
        return {"box": self.box.label, "work": facts.work, "run_dir": folder,
                "pid": int(words[1]), "start_time": words[2] if len(words) > 2 else None,
                **prepared.sent_record()}

    async def forget(self, run: Run, handle: dict) -> None:
        """`tui rm` of an ended run: delete its folder on the box (code copy, log, status)."""
        run_dir = handle.get("run_dir") or ""
        if not run_dir.startswith("runs/") or ".." in run_dir.split("/"):
            return                                   # never started there, or not ours
        facts = await self.reach()
        reply = await self.box.script(f"cd {scripts.quote(facts.work)} && rm -rf -- "
                                      f"{scripts.quote(run_dir)}\n", what="removing a run")
        if reply.returncode != 0:
            raise ExecutorError(f"{self.box.label}: cannot remove {facts.work}/{run_dir}: "
                                f"{reply.error_text()[:200]}", target=self.target.name)

    async def wait(self, run: Run, handle: dict) -> Exit:
        local = self.context.paths.run_dir(run.id)
        watch = self.mirror.add(Watch(handle["run_dir"], local_copies(local),
                                      handle.get("pid"), handle.get("start_time")))
        try:
            end = await watch.done
        finally:
            self.mirror.forget(watch)
        if end.status is not None:
            status = parse_status(end.status)
            if status is not None:
                ended_at = min(end.ended_at, time.time()) if end.ended_at else None  # box clock
                return Exit(status.exit_code, status.reason, ended_at=ended_at)
        pid = handle.get("pid")
        if pid is None:
            reason = (f"the run never started on {self.box.label} (the engine stopped while "
                      "starting it)")
        else:
            reason = (f"the run's process (pid {pid}) on {self.box.label} ended without "
                      "writing an exit status (was the box restarted?)")
        return Exit(exit_code=None, lost=True, reason=reason)

    async def recover(self, run: Run) -> dict | None:
        run_dir = runfolder.folder_name(self.store, run)
        pending = {"box": self.box.label, "run_dir": run_dir, "pid": None, "start_time": None}
        try:
            facts = await self.reach()
            reply = await self.box.script(scripts.find_pid(facts.work, run_dir),
                                          what=f"looking for run {run.id}")
        except ExecutorError as exc:
            log.warning("run %s: cannot ask %s whether it started: %s", run.id, self.box.label,
                        exc.message)
            return pending
        words = reply.reply("PID", "NONE").split()
        if words[:1] != ["PID"] or len(words) < 2 or not words[1].isdigit():
            return None
        return {**pending, "work": facts.work, "pid": int(words[1]),
                "start_time": words[2] if len(words) > 2 else None}

    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        try:
            facts = await self.reach()
        except ExecutorError as exc:
            if not exc.transient:
                raise
            task = asyncio.get_running_loop().create_task(self._cancel_when_back(run, handle,
                                                                                 grace))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            raise ExecutorError(f"{exc.message}; the cancel is sent when the box is back",
                                target=self.target.name) from None
        run_dir, pid = handle["run_dir"], handle.get("pid")
        await self.box.script(scripts.signal_tree(facts.work, run_dir, pid, "TERM"),
                              what=f"stopping run {run.id}")
        watch = self.mirror.get(run_dir)
        if watch is not None:
            try:
                await asyncio.wait_for(watch.stopped.wait(), grace)
            except asyncio.TimeoutError:
                log.info("run %s did not stop within %.0f s; killing it", run.id, grace)
        else:
            await asyncio.sleep(grace)
        await self.box.script(scripts.signal_tree(facts.work, run_dir, pid, "KILL"),
                              what=f"killing run {run.id}")

    async def _cancel_when_back(self, run: Run, handle: dict, grace: float) -> None:
        await self.box.wait_up()
        try:
            await self.cancel(run, handle, grace)
        except ExecutorError as exc:
            log.warning("run %s: cancel after reconnecting failed: %s", run.id, exc.message)

    # ------------------------------------------------------------ a run's files (on the box)

    async def list_files(self, run: Run, handle: dict) -> Listing:
        await self.reach()
        return await self._named(runfiles.list_files(self.box, self._run_dir(handle)))

    async def hash_files(self, run: Run, handle: dict, paths: list[str]) -> dict[str, str]:
        await self.reach()
        return await self._named(runfiles.hash_files(self.box, self._run_dir(handle), paths))

    async def fetch_files(self, run: Run, handle: dict,
                          wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
        await self.reach()
        try:
            async for item in runfiles.fetch_files(self.box, self._run_dir(handle), wanted):
                yield item
        except ExecutorError as exc:
            exc.target = self.target.name
            raise

    def files_location(self, handle: dict) -> str:
        return runfiles.location(handle)

    def file_address(self, run: Run, handle: dict, path: str) -> str:
        return runfiles.address(handle, path)

    async def resume_path(self, run: Run, location: str, address: str) -> str | None:
        """A checkpoint on this box (this work folder) is read where it is."""
        facts = await self.reach()
        here = runfiles.location({"box": self.box.label, "work": facts.work})
        return address if location == here else None

    async def stage_files(self, run: Run, folder: Path, files: dict[str, str]) -> str:
        await self.reach()
        return await self._named(runfiles.stage_files(self.box, folder, files,
                                                       self.context.blobs))

    def _run_dir(self, handle: dict) -> str:
        run_dir = handle.get("run_dir") or ""
        if not run_dir.startswith("runs/") or ".." in run_dir.split("/"):
            raise ExecutorError(f"{self.box.label}: the run has no folder there",
                                target=self.target.name)
        return run_dir

    async def _named(self, work):
        """Await `work`; an error names this target (not only the box)."""
        try:
            return await work
        except ExecutorError as exc:
            exc.target = self.target.name
            raise

    async def gpus(self):
        await self.reach()
        reply = await self.box.script(scripts.gpu_query(), what="asking nvidia-smi for GPUs")
        if reply.returncode != 0:
            return [], (f"nvidia-smi on {self.box.label} exited {reply.returncode}: "
                        f"{reply.error_text(200)}")
        return parse_query(reply.text()), None

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        self.box.unlisten(self._box_changed)
        await pool.release(self.box)


EXECUTOR = SshExecutor
