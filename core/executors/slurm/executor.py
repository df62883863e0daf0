"""The slurm target: runs become Slurm jobs, submitted here or on a login node over SSH.

Lifecycle of a run:
- start: its folder and code are made on the cluster's filesystem (slurm_site: the store's
  own run folder, or the login node's through core.remote), then it joins a batch; the runs
  the scheduler starts together are submitted with ONE sbatch, as a job array when there are
  several with the same resources (and the same sweep), each task running one run
  (slurm_batch, slurm_script). The job runs `runwrap.sh`, which writes the exact exit status.
  The handle is the job key (`123`, or `120_3` for task 3 of array 120) plus where the run's
  folder is; it is recorded, so a restarted engine follows the job again.
- while it is pending or running, one squeue per target and second tells every job's state;
  the run's `detail` says it (`job 123 pending (Priority)`, `job 123 running on node7`), and
  each state change is an event in its history. Remote output is mirrored by byte offset.
- end: Slurm's end state plus the exit status give the run's state and reason
  (slurm_states); accounting is not needed.
- cancel: a pending job is `scancel`led; a running one gets `scancel --signal=TERM --full`
  (the whole batch step, the run's tree), `grace` seconds, then `scancel` (Slurm's SIGTERM,
  KillWait, SIGKILL). Slurm reaps the processes.
- Jobs are submitted with --no-requeue (one run is one execution; retries are runyard's).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from pathlib import Path
from typing import AsyncIterator

from core.config import TargetConfig
from core.errors import ConfigError, ExecutorError
from core.executors.base import HERE, Context, Executor, Exit
from core.executors.slurm.batch import Batcher
from core.executors.slurm.jobs import Jobs
from core.executors.slurm.options import check_options, command_timeout, sbatch_flags
from core.executors.slurm.script import Task, batch_script, job_env
from core.executors.slurm.remote import RemoteSite
from core.executors.slurm.site import LocalSite, SlurmError
from core.executors.slurm.states import JobInfo, is_transient, outcome, parse_job_id
from core.models import Listing, Run

log = logging.getLogger("runyard.engine")

__all__ = ["check_options", "SlurmExecutor", "EXECUTOR"]

INTENT = "slurm-submit.json"      # in the local run folder, written before sbatch (for recover)
DOWN_PAUSE = 15.0                  # after Slurm could not be reached, new runs wait this long


class SlurmExecutor(Executor):
    kind = "slurm"
    places_gpus = True                  # Slurm picks the GPUs: --gpus N is passed on, not placed
    may_be_unreachable = True           # the controller (or the login node) may not answer
    # run_folders_here stays False: without `host` a run's folder is the store's own (the
    # cluster shares it), but paths of other runs' folders are not handed to jobs; a
    # checkpoint to resume from is (resume_path).

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        self.options = target.options
        try:
            self.site: LocalSite | RemoteSite
            if "host" in self.options:
                self.site = RemoteSite(target.name, context, self.options)
            else:
                self.site = LocalSite(target.name, context, command_timeout(self.options))
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"target {target.name}: bad settings: {exc}") from None
        self.takes_shell_env = not self.site.remote    # a local sbatch runs in your shell's env
        self.jobs = Jobs(self.site.command, self._job_changed, self._jobs_problem)
        self.batcher = Batcher(self._submit)
        self.problem: str | None = None
        self._transient = False             # the problem is Slurm not answering (it may pass)
        self._down_until = 0.0
        self._pending: set[asyncio.Task] = set()
        if isinstance(self.site, RemoteSite):
            self.site.box.listen(self._box_changed)     # the login node's health is ours

    # ------------------------------------------------------------ health

    def health(self) -> tuple[str, str | None]:
        site = self.site.health()
        if site is not None:
            return site
        if self.problem:
            return ("unreachable" if self._transient else "error"), self.problem
        return "ok", None

    def available(self) -> bool:
        """False for a while after Slurm could not be reached: queued runs wait."""
        if not self.site.available():
            return False
        return time.monotonic() >= self._down_until

    def _note_problem(self, message: str | None, transient: bool = False) -> None:
        if transient:
            self._down_until = time.monotonic() + DOWN_PAUSE
            asyncio.get_running_loop().call_later(DOWN_PAUSE + 0.1, self._report)  # try again
        if message != self.problem or transient != self._transient:
            self.problem, self._transient = message, transient
            self._report()

    def _box_changed(self, state: str, message: str | None) -> None:
        self._report()

    def _report(self) -> None:
        if self.context.on_health is not None:
            self.context.on_health(self.target.name, *self.health())

    def _jobs_problem(self, message: str | None, transient: bool) -> None:
        self._note_problem(f"{self.site.label}: {message}" if message else None, transient)

    async def reach(self):
        try:
            return await self.site.reach()
        except ExecutorError as exc:
            exc.target = self.target.name
            if not exc.transient:
                self._note_problem(exc.message)
            raise

    async def probe(self) -> str | None:
        """For `tui targets`: whether Slurm answers, and knows the configured partition."""
        try:
            await self.reach()
            result = await self.site.command(["sinfo", "-h", "-o", "%R"], what="asking sinfo")
        except ExecutorError as exc:
            return exc.message
        if result.returncode != 0:
            return f"sinfo failed (exit {result.returncode}): {result.error_text()}"
        partitions = sorted({line.strip() for line in result.text().splitlines() if line.strip()})
        wanted = self.options.get("partition")
        if wanted and wanted not in partitions:
            return (f"Slurm has no partition {wanted!r} (it has: {', '.join(partitions)})")
        return None

    async def gpus(self):
        await self.reach()
        return [], None                 # Slurm places GPUs; runs ask with --gpus N

    # ------------------------------------------------------------ starting

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        with self.batcher.preparing():
            await self.reach()
            placed = await self.site.prepare(run, env)
        ours = {k for k in env if k.startswith("RUNYARD_")} | {"PYTHONUNBUFFERED"}
        explicit = set(run.spec.env) | ours
        task = Task(run.id, placed.run_dir, placed.workdir, job_env(placed.env, explicit),
                    run.spec.command)
        key = (run.group_id, run.spec.gpus)   # one array per sweep and size
        return await self.batcher.add(key, (run, task, placed.handle))

    async def _submit(self, items: list) -> list:
        """Submit runs as one job (or one array); one handle or error per run, in order.
        Array task i is the i-th of the runs by id."""
        order = sorted(range(len(items)), key=lambda i: items[i][0].id)
        ordered = [items[i] for i in order]
        results = await self._submit_once(ordered)
        if len(items) > 1 and isinstance(results[0], SlurmError) and \
                "array" in results[0].message.lower():
            # The cluster limits arrays (MaxArraySize, a policy): submit one job per run.
            results = [(await self._submit_once([item]))[0] for item in ordered]
        back: list = [None] * len(items)
        for position, index in enumerate(order):
            back[index] = results[position]
        return back

    async def _submit_once(self, items: list) -> list:
        runs = [run for run, _task, _handle in items]
        tasks = [task for _run, task, _handle in items]
        nonce = secrets.token_hex(6)
        comment = f"runyard:{nonce}"
        await asyncio.to_thread(self._write_intents, runs, comment)
        first = runs[0]
        flags = ["--parsable", "--no-requeue", "--open-mode=append",
                 f"--job-name=runyard-{first.id}-{first.name}"[:120], f"--comment={comment}",
                 f"--chdir={self.site.chdir}", *sbatch_flags(self.options, first.spec.gpus)]
        links: dict[str, str] = {}
        if len(items) == 1:
            flags.append(f"--output={tasks[0].run_dir}/output.log")
            label = f"run {first.id}"
        else:
            folder = self.site.array_dir(nonce)
            links = {f"{folder}/{i}": f"{t.run_dir}/output.log" for i, t in enumerate(tasks)}
            flags += [f"--array=0-{len(items) - 1}", f"--output={folder}/%a"]
            label = "runs " + ", ".join(str(r.id) for r in runs)
        script = batch_script(tasks, self.site.wrapper, label)
        try:
            result = await self.site.submit(flags, script, links)
        except ExecutorError as exc:
            if exc.transient:
                job_id = await self._adopt(comment)     # sbatch may have gone through
                if job_id is not None:
                    return [self._handle(job_id, i, len(items), handle)
                            for i, (_run, _task, handle) in enumerate(items)]
                self._note_problem(exc.message, transient=True)
            return [exc] * len(items)
        job_id = parse_job_id(result.text()) if result.returncode == 0 else None
        if job_id is None:
            return [self._refused(result)] * len(items)
        self._note_problem(None)
        return [self._handle(job_id, i, len(items), handle)
                for i, (_run, _task, handle) in enumerate(items)]

    def _handle(self, job_id: str, index: int, size: int, site_handle: dict) -> dict:
        handle = {"job": job_id if size == 1 else f"{job_id}_{index}", **site_handle}
        if size > 1:
            handle.update(array=job_id, task=index, size=size)
        return handle

    def _refused(self, result) -> SlurmError:
        lines = [line.strip().removeprefix("sbatch: error: ").removeprefix("sbatch: ")
                 for line in result.error_text(600).splitlines() if line.strip()]
        said = "; ".join(lines) or f"sbatch exited {result.returncode} without a job id"
        error = SlurmError(f"Slurm refused the job: {said}", target=self.target.name,
                           transient=is_transient(said))
        if error.transient:
            self._note_problem(error.message, transient=True)
        return error

    def _write_intents(self, runs: list[Run], comment: str) -> None:
        for index, run in enumerate(runs):
            folder = self.context.paths.run_dir(run.id)
            folder.mkdir(parents=True, exist_ok=True)
            intent = {"comment": comment, "task": index if len(runs) > 1 else None,
                      "size": len(runs)}
            (folder / INTENT).write_text(json.dumps(intent))

    async def _adopt(self, comment: str) -> str | None:
        """The id of a job we submitted with `comment` (when sbatch's reply was lost); for an
        array, its base id (%F)."""
        try:
            result = await self.site.command(["squeue", "-h", "--me", "-t", "all", "-o", "%F|%k"],
                                             what="looking for a submitted job")
        except ExecutorError:
            return None
        for line in result.text().splitlines():
            job, _, found = line.strip().partition("|")
            if found == comment and job.isdigit():
                return job
        return None

    # ------------------------------------------------------------ following

    def _job_changed(self, run_id: int | None, info: JobInfo, state_changed: bool) -> None:
        if run_id is None:
            return
        note = self.context.on_detail
        if note is not None:
            note(run_id, info.detail(), f"Slurm: {info.detail()}" if state_changed else None)

    async def wait(self, run: Run, handle: dict) -> Exit:
        key = handle["job"]
        self.jobs.follow(key, run.id)
        follower = self.site.follow(run, handle)
        hurry = asyncio.get_running_loop().create_task(self._hurry(follower, key))
        try:
            item = await self.jobs.until_ended(key, run.id)
            assert item is not None, "without a timeout it returns once the job has ended"
            info = item.ended.result()
            expect = info is None or item.seen_running or info.state != "CANCELLED"
            status, ended_at = await follower.finish(expect)
        finally:
            hurry.cancel()
            follower.close()
        note = self.context.on_detail
        if note is not None:
            note(run.id, None, None)
        return outcome(key, info, status, ended_at)

    async def _hurry(self, follower, key: str) -> None:
        await follower.status_seen()
        self.jobs.expect_end(key)

    async def recover(self, run: Run) -> dict | None:
        """The job of a run whose submission the engine did not record, if it was submitted."""
        path = self.context.paths.run_dir(run.id) / INTENT
        try:
            intent = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        job = await self._adopt(intent["comment"])
        if job is None:
            return None
        site = {}
        if isinstance(self.site, RemoteSite):
            await self.site.reach()
            site = {"box": self.site.label, "work": self.site.box.reached.work,
                    "run_dir": self.site.run_dir(run)}
        return self._handle(job, intent.get("task") or 0, intent.get("size", 1), site)

    # ------------------------------------------------------------ a run's files
    # Submitting here, a run's folder is the store's own, which the nodes share (the base
    # class's defaults); on a login node it is the box's (core.remote.runfiles, via the site).

    def _login_node(self) -> RemoteSite | None:
        """The site when jobs are submitted on a login node over SSH; None when here."""
        return self.site if isinstance(self.site, RemoteSite) else None

    async def list_files(self, run: Run, handle: dict) -> Listing:
        if (site := self._login_node()) is None:
            return await super().list_files(run, handle)
        await self.reach()
        return await site.list_files(handle)

    async def hash_files(self, run: Run, handle: dict, paths: list[str]) -> dict[str, str]:
        if (site := self._login_node()) is None:
            return await super().hash_files(run, handle, paths)
        await self.reach()
        return await site.hash_files(handle, paths)

    def fetch_files(self, run: Run, handle: dict,
                    wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
        if (site := self._login_node()) is None:
            return super().fetch_files(run, handle, wanted)
        return site.fetch_files(handle, wanted)

    def files_location(self, handle: dict) -> str:
        return site.files_location(handle) if (site := self._login_node()) else HERE

    def file_address(self, run: Run, handle: dict, path: str) -> str:
        if (site := self._login_node()) is None:
            return super().file_address(run, handle, path)
        return site.file_address(handle, path)

    async def resume_path(self, run: Run, location: str, address: str) -> str | None:
        """Jobs read a checkpoint where it is when it is on their cluster's filesystem: the
        store's (shared with the nodes), or the login node's work folder."""
        if (site := self._login_node()) is None:
            return address if location == HERE else None
        await self.reach()
        return address if location == site.files_location(None) else None

    async def stage_files(self, run: Run, folder: Path, files: dict[str, str]) -> str:
        if (site := self._login_node()) is None:
            return str(folder)              # the store's own folder: the nodes share it
        await self.reach()
        return await site.stage_files(folder, files)

    # ------------------------------------------------------------ cancelling

    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        key = handle["job"]
        try:
            await self._cancel(key, grace)
        except ExecutorError as exc:
            if not exc.transient:
                raise
            task = asyncio.get_running_loop().create_task(self._cancel_later(key, grace))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            raise ExecutorError(f"{exc.message}; the cancel is sent when Slurm answers",
                                target=self.target.name) from None

    async def _cancel(self, key: str, grace: float) -> None:
        info = self.jobs.known(key) or (await self.jobs.query([key])).get(key)
        if info is None or not info.active:
            return
        if info.state == "RUNNING":
            result = await self.site.command(["scancel", "--signal=TERM", "--full", key],
                                             what="stopping a job")
            if result.returncode == 0 and await self.jobs.until_ended(key, timeout=grace):
                return
        result = await self.site.command(["scancel", key], what="cancelling a job")
        self.jobs.poll_soon()
        if result.returncode != 0 and "already completing or completed" not in \
                result.error_text():
            raise SlurmError(f"scancel {key} failed: {result.error_text()}",
                             target=self.target.name)

    async def _cancel_later(self, key: str, grace: float) -> None:
        pause = 2.0
        while True:
            await asyncio.sleep(pause)
            try:
                await self._cancel(key, grace)
                return
            except ExecutorError as exc:
                if not exc.transient:
                    log.warning("slurm job %s: cancel failed: %s", key, exc.message)
                    return
                pause = min(30.0, pause * 2)

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        await self.batcher.close()
        await self.jobs.close()
        if isinstance(self.site, RemoteSite):
            self.site.box.unlisten(self._box_changed)
        await self.site.close()


EXECUTOR = SlurmExecutor
