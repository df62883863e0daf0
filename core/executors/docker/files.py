"""A docker run's files: where they are kept, how they are listed and read, and resuming.

With a local engine (`code = "mount"`) a run's code folder is the store's `runs/<id>/code`,
bind-mounted, so the base class's defaults apply. With a remote one (`code = "copy"`) the
run's `/runyard` is a named volume on that engine (core.executors.docker.spec.volume_name):
the code is copied into it, the run writes there, and it stays after the container is
removed, until `tui rm` (`forget`). Its files are read through Docker's archive API
(core.executors.docker.archive), from the run's container while it exists, else from a
helper container that is created (never started) with the volume mounted read-only and
removed again. The listing hashes every file as it streams by; a run that has ended
cannot change its volume, so its listing is read once per engine.

Resuming: a run on the same engine reads a checkpoint of another remote run in place (its
volume mounted read-only at /runyard/resume/<volume>); a checkpoint from elsewhere is
pulled to this machine first, then bind-mounted (local engine) or copied in with the code.
DockerExecutor is a DockerFiles, and provides `_connection`, `url`, `store`, `mode`, `options`.
"""

from __future__ import annotations

import abc
import logging
import time
from pathlib import Path
from typing import AsyncIterator

from aiodocker.exceptions import DockerError

from core.errors import ExecutorError
from core.executors.base import HERE, Executor
from core.executors.docker.client import DockerConnection, unreachable
from core.executors.docker import archive, spec
from core.models import FileStat, Listing, Run

log = logging.getLogger("runyard.engine")


class DockerFiles(Executor):
    """The file capabilities of the docker target (see the module docstring)."""

    url: str
    options: dict

    @abc.abstractmethod
    def _connection(self, url: str) -> DockerConnection:
        """The connection to the Docker engine at `url`."""

    @property
    @abc.abstractmethod
    def mode(self) -> str:
        """"mount" or "copy": how this target's new runs get their code."""

    @property
    @abc.abstractmethod
    def store(self) -> str:
        """This store's id, which labels its containers and volumes."""

    def _init_files(self) -> None:
        self._scans: dict[str, list[archive.Member]] = {}     # volume -> files of an ended run
        self._mounts: dict[int, list[dict]] = {}               # run id -> resume mounts
        self._staged: dict[int, list[tuple[str, Path]]] = {}   # run id -> files to copy in

    @staticmethod
    def _copied(handle: dict) -> bool:
        return handle.get("mode") == "copy"

    def _volume(self, run: Run, handle: dict) -> str:
        volume = handle.get("volume")
        if not volume:
            raise ExecutorError(f"run {run.id}'s files were not kept on the Docker engine "
                                "(it ran before runyard kept a remote run's files in a volume)",
                                target=self.target.name)
        return volume

    async def make_volume(self, docker, run: Run, labels: dict[str, str]) -> str:
        """The volume a remote run's /runyard lives in (its files stay after the container)."""
        volume = spec.volume_name(self.store, run.id)
        try:
            await docker.volumes.create({"Name": volume, "Labels": labels})
        except DockerError as exc:
            if exc.status == 900:
                raise
            raise ExecutorError(f"the Docker engine at {self.url} could not create the "
                                f"volume {volume}: {exc.message.strip()}",
                                target=self.target.name) from None
        return volume

    # ------------------------------------------------------------ reading

    async def list_files(self, run: Run, handle: dict) -> Listing:
        if not self._copied(handle):
            return await super().list_files(run, handle)
        members = await self._scan(run, handle)
        files = [FileStat(m.path, m.size, m.mtime, f"{m.size}:{m.mtime}:{m.sha256}")
                 for m in members]
        return Listing(sorted(files, key=lambda f: f.path), time.time())

    async def hash_files(self, run: Run, handle: dict, paths: list[str]) -> dict[str, str]:
        if not self._copied(handle):
            return await super().hash_files(run, handle, paths)
        wanted = set(paths)
        return {m.path: m.sha256 for m in await self._scan(run, handle) if m.path in wanted}

    async def fetch_files(self, run: Run, handle: dict,
                          wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
        if not self._copied(handle):
            async for item in super().fetch_files(run, handle, wanted):
                yield item
            return
        async with self._reader(run, handle) as (docker, container):
            for index, (path, offset) in enumerate(wanted):
                async for block in self._guarded(archive.read(docker, container,
                                                              f"{spec.CODE}/{path}", offset)):
                    yield index, block

    async def _scan(self, run: Run, handle: dict) -> list[archive.Member]:
        volume = self._volume(run, handle)
        if volume in self._scans:
            return self._scans[volume]
        async with self._reader(run, handle) as (docker, container):
            members = await self._call(archive.scan(docker, container, spec.CODE))
        if run.state.terminal:
            self._scans[volume] = members
        return members

    def _reader(self, run: Run, handle: dict) -> "_Reader":
        return _Reader(self, run, handle, self._volume(run, handle))

    async def _call(self, work):
        try:
            return await work
        except Exception as exc:
            raise self._docker_error(exc) from None

    async def _guarded(self, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for block in blocks:
                yield block
        except Exception as exc:
            raise self._docker_error(exc) from None

    def _docker_error(self, exc: BaseException) -> ExecutorError:
        if isinstance(exc, ExecutorError):
            return exc
        if unreachable(exc):
            return ExecutorError(f"the Docker engine at {self.url} cannot be reached: {exc}",
                                 target=self.target.name, transient=True)
        return ExecutorError(f"reading a run's files from the Docker engine at {self.url} "
                             f"failed: {exc}", target=self.target.name)

    # ------------------------------------------------------------ where files are

    def files_location(self, handle: dict) -> str:
        if not self._copied(handle):
            return HERE
        return f"docker {handle.get('host') or self.url}"

    def file_address(self, run: Run, handle: dict, path: str) -> str:
        if not self._copied(handle):
            return super().file_address(run, handle, path)
        return f"{self._volume(run, handle)}/code/{path}"

    async def resume_path(self, run: Run, location: str, address: str) -> str | None:
        """In place: another remote run's volume on this engine, mounted read-only; or, for
        a local engine, a file of this machine bind-mounted read-only."""
        if self.mode == "copy" and location == f"docker {self.url}":
            volume, _, path = address.partition("/")
            self._mounts[run.id] = [              # one checkpoint per start, however often
                {"Type": "volume", "Source": volume, "Target": f"{spec.RESUME}/{volume}",
                 "ReadOnly": True}]
            return f"{spec.RESUME}/{volume}/{path}"
        if self.mode == "mount" and location == HERE:
            name = Path(address).name
            self._mounts[run.id] = [
                {"Type": "bind", "Source": address, "Target": f"{spec.RESUME}/{name}",
                 "ReadOnly": True}]
            return f"{spec.RESUME}/{name}"
        return None

    async def stage_files(self, run: Run, folder: Path, files: dict[str, str]) -> str:
        """A checkpoint pulled to `folder` here: bind-mounted (local engine) or copied in
        with the code (remote engine), at /runyard/resume."""
        if self.mode == "mount":
            self._mounts[run.id] = [{"Type": "bind", "Source": str(folder),
                                     "Target": spec.RESUME, "ReadOnly": True}]
        else:
            self._staged[run.id] = [(f"runyard/resume/{path}", folder / path)
                                    for path in sorted(files)]
        return spec.RESUME

    def taken_resume(self, run: Run) -> tuple[list[dict], list[tuple[str, Path]]]:
        """The mounts and files `start` gives the run for resuming (asked for just before)."""
        return self._mounts.pop(run.id, []), self._staged.pop(run.id, [])

    # ------------------------------------------------------------ removing

    async def forget(self, run: Run, handle: dict) -> None:
        """`tui rm`: the run's volume goes (its container went when the run ended)."""
        if not self._copied(handle) or not handle.get("volume"):
            return
        docker = await self._connection(handle.get("host") or self.url).client()
        try:
            await docker._query_json(f"volumes/{handle['volume']}", method="DELETE")
        except DockerError as exc:
            if exc.status != 404:
                raise ExecutorError(f"cannot remove volume {handle['volume']}: {exc.message}",
                                    target=self.target.name) from None
        self._scans.pop(handle["volume"], None)


class _Reader:
    """`async with`: a container to read a run's volume from, and its clean-up."""

    def __init__(self, files: DockerFiles, run: Run, handle: dict, volume: str):
        self.files, self.run, self.handle, self.volume = files, run, handle, volume
        self.helper = None

    async def __aenter__(self):
        files = self.files
        docker = await files._connection(self.handle.get("host") or files.url).client()
        ident = self.handle.get("container") or self.handle.get("name")
        try:
            if ident:
                info = await docker.containers.container(ident).show()
                return docker, info["Id"]
        except DockerError as exc:
            if exc.status != 404:
                raise files._docker_error(exc) from None
        try:
            await docker.volumes.get(self.volume)
        except DockerError as exc:
            if exc.status == 404:
                raise ExecutorError(f"the volume {self.volume} holding run {self.run.id}'s "
                                    f"files is gone from the Docker engine at {files.url}",
                                    target=files.target.name) from None
            raise files._docker_error(exc) from None
        body = {"Image": files.options["image"], "Cmd": ["true"],
                "Labels": {spec.LABEL_STORE: files.store, spec.LABEL_RUN: str(self.run.id),
                           "runyard.files": "reader"},
                "HostConfig": {"Mounts": [{"Type": "volume", "Source": self.volume,
                                           "Target": spec.ROOT, "ReadOnly": True}]}}
        try:
            helper = await docker.containers.create(body)
        except DockerError as exc:
            raise ExecutorError(f"cannot read run {self.run.id}'s files: the Docker engine at "
                                f"{files.url} could not create a container to read its volume "
                                f"{self.volume}: {exc.message.strip()}", target=files.target.name,
                                hint="the target's image must still be there") from None
        self.helper = helper
        return docker, helper.id

    async def __aexit__(self, *exc_info) -> None:
        if self.helper is not None:
            try:
                await self.helper.delete(force=True)
            except Exception as exc:  # a helper left behind is labelled runyard.files=reader
                log.warning("could not remove helper container %s: %s", self.helper.id[:12], exc)
