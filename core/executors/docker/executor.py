"""The docker target: each run is one container on a Docker engine, local or remote.

Start: make sure the image is there (pull per `pull`), create the container with labels
naming the store and the run, give it the run's code (bind mount of the run's private
copy for a local engine, a tar copied in for a remote one), start it. Its output goes
to Docker's json-file log and is mirrored into `runs/<id>/output.log` by byte count
(core.executors.docker.stream), so runyard's engine can die, or the Docker engine can
restart, without a gap or a duplicate. The exit code comes from Docker and is written to
`runs/<id>/exit_status` before the container is removed (unless `keep`), so a restart
between the two still finds the true outcome.
Cancel: `docker stop` with the grace period: the stop signal (SIGTERM) to the container's
init, which passes it on, `grace` seconds, then SIGKILL to every process of the
container; the container's processes all end with it, so nothing is left to reap.
Reattach: the handle names the container and its engine; without a handle (the engine
died while starting) the container is found by its store and run labels.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
import time
from pathlib import Path

from aiodocker.exceptions import DockerError

from core import gpus as gpu_detection
from core.config import TargetConfig
from core.errors import ExecutorError
from core.executors.docker import spec
from core.executors.base import Context, Exit
from core.executors.docker.client import DockerConnection, unreachable
from core.executors.docker.options import (DEFAULT_SOCKET, check_options, is_local,
                                           parse_host)
from core.executors.docker.files import DockerFiles
from core.executors.docker.outcome import exit_of, recorded_exit, start_failure, write_status
from core.executors.docker.starting import ensure_image, prepare_folder
from core.executors.docker.stream import (StreamBroken, file_size, mirror_file,
                                          mirror_file_while, mirror_logs)
from core.models import Run

__all__ = ["DockerExecutor", "EXECUTOR", "check_options"]

log = logging.getLogger("runyard.engine")

RETRY_MAX = 5.0             # seconds between attempts to reach an engine that went away
DOWN_PAUSE = 5.0            # after the engine could not be reached, new runs wait this long
MAX_SERVER_ERRORS = 20      # an engine answering 5xx this many times in a row is broken
_ENDED = ("exited", "dead")


class DockerExecutor(DockerFiles):
    kind = "docker"
    may_be_unreachable = True           # the Docker engine may be stopped or restarting
    removes_remote_folders = True       # forget() removes a remote run's volume (its files)

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        self.options = target.options
        self.url = self.options.get("host") or os.environ.get("DOCKER_HOST") \
            or f"unix://{DEFAULT_SOCKET}"
        self._connections: dict[str, DockerConnection] = {}
        self._store: str | None = None
        self._pending_stops: dict[int, float] = {}   # run id -> grace, for an engine away
        self._init_files()
        if self.options.get("code") == "mount" or (
                "code" not in self.options and is_local(self.url)):
            self.removes_remote_folders = False     # its runs' files are in the store

    # ------------------------------------------------------------ connections

    def _connection(self, url: str) -> DockerConnection:
        connection = self._connections.get(url)
        if connection is None:
            try:
                endpoint = parse_host(url)
            except ValueError as exc:
                raise ExecutorError(f"DOCKER_HOST={url!r}: expected {exc}",
                                    target=self.target.name) from None
            connection = self._connections[url] = DockerConnection(
                endpoint, self.target.name, self._report if url == self.url else None)
        return connection

    # ------------------------------------------------------------ health

    async def reach(self):
        """Open the connection to the Docker engine (transient ExecutorError if it is away)."""
        try:
            return await self._connection(self.url).client()
        except DockerError as exc:                   # it answered, but not as an engine should
            raise ExecutorError(f"the Docker engine at {self.url} refused runyard: "
                                f"{exc.message.strip()}", target=self.target.name) from None

    def health(self) -> tuple[str, str | None] | None:
        connection = self._connections.get(self.url)
        if connection is None:
            return None                          # not asked yet
        return ("unreachable", connection.down) if connection.down else ("ok", None)

    def available(self) -> bool:
        """False for DOWN_PAUSE after each time the engine could not be reached: queued runs
        wait (then a start tries again)."""
        connection = self._connections.get(self.url)
        return connection is None or connection.down is None or \
            time.monotonic() >= connection.failed_at + DOWN_PAUSE

    def _report(self) -> None:
        connection = self._connections[self.url]
        if connection.down is not None:          # look again when the pause is over
            asyncio.get_running_loop().call_later(DOWN_PAUSE + 0.1, self._report_now)
        self._report_now()

    def _report_now(self) -> None:
        if self.context.on_health is not None:
            self.context.on_health(self.target.name, *(self.health() or ("idle", None)))

    @property
    def mode(self) -> str:
        """"mount" (bind-mount the run's code) or "copy" (copy it into the container)."""
        return self.options.get("code") or \
            ("mount" if self._connection(self.url).endpoint.local else "copy")

    @property
    def store(self) -> str:
        if self._store is None:
            self._store = spec.store_id(self.context.paths.home)
        return self._store

    # ------------------------------------------------------------ start

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        connection = self._connection(self.url)
        docker = await connection.client()
        mode = self.mode
        run_dir = self.context.paths.run_dir(run.id)
        try:
            await asyncio.to_thread(prepare_folder, run, run_dir, mode, self.context.blobs,
                                    "user" in self.options)
        except OSError as exc:
            raise ExecutorError(f"cannot prepare the run folder {run_dir}: {exc.strerror or exc}",
                                target=self.target.name) from None
        try:
            await ensure_image(docker, self.options, self.url, self.target.name)
            return await self._create_and_start(docker, run, env, run_dir, mode)
        except Exception as exc:
            if unreachable(exc):
                raise await connection.lost(exc) from None
            raise

    async def _create_and_start(self, docker, run: Run, env: dict[str, str], run_dir: Path,
                                mode: str) -> dict:
        log_base = file_size(run_dir / "output.log")
        labels = {spec.LABEL_STORE: self.store, spec.LABEL_RUN: str(run.id),
                  spec.LABEL_TARGET: self.target.name, spec.LABEL_LOG_BASE: str(log_base)}
        resume_mounts, resume_files = self.taken_resume(run)
        volume = await self.make_volume(docker, run, labels) if mode == "copy" else None
        body = spec.container_body(
            options=self.options, command=run.spec.command, workdir=run.workdir,
            env=spec.container_env(env, self.options.get("env", {}), run.gpu_ids),
            labels=labels, devices=spec.device_requests(self.target.gpus, run.gpu_ids),
            code_dir=run_dir / "code" if mode == "mount" else None,
            metrics_file=run_dir / "metrics.jsonl" if mode == "mount" else None,
            volume=volume, more_mounts=resume_mounts)
        name = spec.container_name(self.store, run.id)
        try:
            container = await docker.containers.create(body, name=name)
        except DockerError as exc:
            if exc.status == 900:
                raise
            raise ExecutorError(f"the Docker engine at {self.url} could not create the "
                                f"container: {exc.message.strip()}",
                                target=self.target.name) from None
        try:
            if mode == "copy":
                await self._copy_code(container, run, resume_files)
            await container.start()
        except DockerError as exc:
            if exc.status == 900:
                raise
            if not self.options.get("keep"):
                await container.delete(force=True)
            raise ExecutorError(start_failure(self.url, self.options["image"], run.spec.command[0],
                                              exc.message.strip()),
                                target=self.target.name) from None
        return {"container": container.id, "name": name, "host": self.url,
                "log_base": log_base, "mode": mode, **({"volume": volume} if volume else {})}

    async def _copy_code(self, container, run: Run, extra: list) -> None:
        with tempfile.TemporaryFile() as tar:
            await asyncio.to_thread(spec.write_code_tar, run.snapshot, self.context.blobs,
                                    "user" in self.options, tar, extra)
            tar.seek(0)
            await container.put_archive("/", tar)

    # ------------------------------------------------------------ wait

    async def wait(self, run: Run, handle: dict) -> Exit:
        connection = self._connection(handle.get("host") or self.url)
        run_dir = self.context.paths.run_dir(run.id)
        delay, refusals = 0.5, 0
        while True:
            try:
                outcome = await self._follow(connection, run, handle, run_dir)
            except Exception as exc:
                if not _transient(exc):
                    raise
                refusals = refusals + 1 if _server_error(exc) else 0
                if refusals > MAX_SERVER_ERRORS:
                    raise
                detail = exc.message if isinstance(exc, ExecutorError) else \
                    f"Docker engine at {connection.endpoint.url}: {exc}"
                log.warning("run %s: %s; trying again", run.id, detail)
                if unreachable(exc):
                    await connection.lost(exc)           # the target shows it meanwhile
                else:
                    await connection.reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if outcome is not None:
                return outcome
            delay = 0.5                              # still running: follow it again

    async def _follow(self, connection, run: Run, handle: dict, run_dir: Path) -> Exit | None:
        """Mirror the output until the container ends; its Exit, or None if it still runs."""
        docker = await connection.client()
        ident = handle.get("container") or handle["name"]
        recorded = recorded_exit(run_dir)
        try:
            info = await docker.containers.container(ident).show()
        except DockerError as exc:
            if exc.status != 404:
                raise
            return recorded or Exit(None, lost=True, reason=(
                f"its container {handle.get('name') or ident[:12]} is gone from the Docker "
                f"engine at {connection.endpoint.url} and no exit status was recorded"))
        if recorded is not None:                     # ended and recorded; only removal was left
            await self._remove(docker, ident)
            return recorded
        state = info["State"]
        grace = self._pending_stops.pop(run.id, None)
        if grace is not None and state["Status"] not in _ENDED:
            try:
                await self._stop(docker, ident, grace)
            except Exception as exc:
                if unreachable(exc) or _server_error(exc):
                    self._pending_stops[run.id] = grace      # still to do when it answers
                raise
            state = (await docker.containers.container(ident).show())["State"]
        if state["Status"] == "created":
            return Exit(None, lost=True, reason=f"its container {info['Name'].lstrip('/')} "
                                                 "was created but never started")
        labels = info["Config"].get("Labels") or {}
        log_file = run_dir / "output.log"
        log_base = int(labels.get(spec.LABEL_LOG_BASE, handle.get("log_base", 0)))
        running = state["Status"] not in _ENDED
        stop = asyncio.Event()
        copier = None
        if running and handle.get("mode") == "copy":
            copier = asyncio.create_task(mirror_file_while(
                docker, ident, spec.METRICS, run_dir / "metrics.jsonl", stop))
        try:
            await mirror_logs(docker, ident, log_file, log_base, follow=running)
        finally:
            stop.set()
            if copier is not None:
                await copier
        state = (await docker.containers.container(ident).show())["State"]
        if state["Status"] not in _ENDED:
            return None
        # A follow stream can end before it has sent all of a container's output (seen with
        # Docker 20.10: a few of 16 fast writers ended short), so read the rest once more.
        await mirror_logs(docker, ident, log_file, log_base, follow=False)
        if handle.get("mode") == "copy":
            await mirror_file(docker, ident, spec.METRICS, run_dir / "metrics.jsonl")
        outcome = exit_of(state, self.options["image"], run.spec.command[0], log_file)
        assert outcome.exit_code is not None, "exit_of reads Docker's own ExitCode"
        await asyncio.to_thread(write_status, run_dir, outcome.exit_code, outcome.reason,
                                outcome.ended_at)
        await self._remove(docker, ident)
        return outcome

    async def _remove(self, docker, ident: str) -> None:
        if self.options.get("keep"):
            return
        try:
            await docker.containers.container(ident).delete(force=True)
        except DockerError as exc:
            if exc.status not in (404, 409):          # gone, or already being removed
                raise

    # ------------------------------------------------------------ recover, cancel

    async def recover(self, run: Run) -> dict | None:
        """Find the run's container by its labels after the engine died while starting it.

        An engine that cannot be reached now gives a handle by the container's name, which
        `wait` resolves once the engine is back; a container that was created but never
        started is removed and the run queued again.
        """
        connection = self._connection(self.url)
        name = spec.container_name(self.store, run.id)
        base = {"name": name, "host": self.url, "mode": self.mode}
        if self.mode == "copy":
            base["volume"] = spec.volume_name(self.store, run.id)
        try:
            docker = await connection.client()
            found = await docker.containers.list(all=True, filters={"label": [
                f"{spec.LABEL_STORE}={self.store}", f"{spec.LABEL_RUN}={run.id}"]})
        except (ExecutorError, DockerError) as exc:
            log.warning("run %s: cannot look for its container yet: %s", run.id, exc)
            log_base = file_size(self.context.paths.output_log(run.id))
            return {**base, "container": None, "log_base": log_base}
        for container in found:
            info = await container.show()
            if info["State"]["Status"] == "created":
                await container.delete(force=True)
                continue
            return {**base, "container": container.id,
                    "log_base": int(info["Config"]["Labels"].get(spec.LABEL_LOG_BASE, 0))}
        return None

    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        """`docker stop` with the grace period. With the engine out of reach, the stop waits
        for the run's `wait`, which gives it as soon as the engine answers again."""
        connection = self._connection(handle.get("host") or self.url)
        ident = handle.get("container") or handle["name"]
        try:
            await self._stop(await connection.client(), ident, grace)
        except Exception as exc:
            if not (isinstance(exc, ExecutorError) or unreachable(exc)):
                raise
            if isinstance(exc, ExecutorError):
                await connection.reset()
            else:
                exc = await connection.lost(exc)
            self._pending_stops[run.id] = grace
            log.warning("run %s: stop once the Docker engine answers: %s", run.id, exc.message)

    async def _stop(self, docker, ident: str, grace: float) -> None:
        try:
            await docker.containers.container(ident).stop(t=math.ceil(grace))
        except DockerError as exc:
            if exc.status == 900 or exc.status >= 500:
                raise
            if exc.status not in (304, 404):          # already stopped, or gone
                raise ExecutorError(f"cannot stop container {ident[:12]}: {exc.message}",
                                    target=self.target.name) from None

    # ------------------------------------------------------------ target

    async def gpus(self):
        """A local engine's GPUs are this machine's; a remote engine's must be listed."""
        try:
            local = self._connection(self.url).endpoint.local
        except ExecutorError as exc:
            return [], exc.message
        if local:
            return await asyncio.to_thread(gpu_detection.detect)
        return [], None

    async def probe(self) -> str | None:
        """None when the engine answers, else why not (for `tui targets`)."""
        connection = self._connection(self.url)
        try:
            docker = await connection.client()
            await asyncio.wait_for(docker.version(), 10)
        except ExecutorError as exc:
            return exc.message
        except Exception as exc:
            if not unreachable(exc):
                raise
            return (await connection.lost(exc)).message
        return None

    async def close(self) -> None:
        for connection in self._connections.values():
            await connection.close()
        self._connections.clear()


def _transient(exc: BaseException) -> bool:
    """An error that a wait survives: the engine unreachable or restarting."""
    return isinstance(exc, (StreamBroken, ExecutorError)) or unreachable(exc) or \
        _server_error(exc)


def _server_error(exc: BaseException) -> bool:
    return isinstance(exc, DockerError) and exc.status >= 500 and exc.status != 900


EXECUTOR = DockerExecutor
