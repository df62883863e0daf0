"""A container's files through Docker's archive API, read as a stream (never whole in memory).

`GET /containers/{id}/archive?path=` answers with a tar of that path. Python's tarfile
reads it in a thread, from a pipe the event loop fills as the HTTP body arrives, and hands
back each regular file's name, size, mtime and sha256 (`scan`), or its bytes (`read`).
aiodocker's own get_archive reads the whole answer into memory first, which a 10 GB
checkpoint must not do. Docker cannot send a file from an offset: a file is read from its
start, and the bytes before the offset are skipped here, not written again.
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import tarfile
import threading
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from core.executors.docker.client import CONNECT_TIMEOUT

CHUNK = 1024 * 1024
PIPE_LIMIT = 8 * CHUNK      # bytes read from the engine ahead of the tar reader
_END = object()


@dataclass(frozen=True)
class Member:
    path: str               # relative to the archived folder
    size: int
    mtime: float
    sha256: str


class _Pipe:
    """Bytes from the event loop to a blocking reader thread, with back pressure."""

    def __init__(self):
        self.cond = threading.Condition()
        self.buffer = bytearray()
        self.ended = False          # no more bytes will come
        self.abandoned = False      # the reader stopped reading

    def read(self, size: int = -1) -> bytes:
        with self.cond:
            while (size < 0 or len(self.buffer) < size) and not self.ended:
                self.cond.wait()
            size = len(self.buffer) if size < 0 else min(size, len(self.buffer))
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
            self.cond.notify_all()
            return data

    def feed(self, data: bytes) -> bool:
        """Add bytes once there is room; False when the reader has stopped."""
        with self.cond:
            while len(self.buffer) > PIPE_LIMIT and not self.abandoned:
                self.cond.wait()
            if self.abandoned:
                return False
            self.buffer += data
            self.cond.notify_all()
            return True

    def end(self) -> None:
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def abandon(self) -> None:
        with self.cond:
            self.abandoned = True
            self.cond.notify_all()


async def _stream(docker, container: str, path: str, reader: Callable[[_Pipe], object]):
    """Run `reader(pipe)` in a thread on the archive of `path`; its result."""
    import aiohttp
    pipe = _Pipe()

    def run_reader():
        try:
            return reader(pipe)
        finally:
            pipe.abandon()

    worker = asyncio.ensure_future(asyncio.to_thread(run_reader))
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=CONNECT_TIMEOUT,
                                    sock_connect=CONNECT_TIMEOUT)
    try:
        # `_query` is aiodocker's request primitive (its get_archive reads all at once).
        async with docker._query(f"containers/{container}/archive", params={"path": path},
                                 timeout=timeout) as response:
            async for data in response.content.iter_chunked(CHUNK):
                if not await asyncio.to_thread(pipe.feed, data):
                    break
    except BaseException:
        pipe.end()
        await asyncio.gather(worker, return_exceptions=True)    # the request's error wins
        raise
    pipe.end()
    return await worker


def _regular_files(tar: tarfile.TarFile):
    """(member, its path below the archived folder) of every regular file; a single file
    archived by its own path has the path ""."""
    for info in tar:
        if info.isreg():
            yield info, info.name.split("/", 1)[1] if "/" in info.name else ""


async def scan(docker, container: str, folder: str) -> list[Member]:
    """Every regular file under `folder` in the container, hashed as it streams by."""
    def read_all(pipe: _Pipe) -> list[Member]:
        found = []
        with tarfile.open(fileobj=pipe, mode="r|") as tar:
            for info, name in _regular_files(tar):
                digest = hashlib.sha256()
                handle = tar.extractfile(info)
                while handle is not None and (block := handle.read(CHUNK)):
                    digest.update(block)
                found.append(Member(name, info.size, float(info.mtime), digest.hexdigest()))
        return found

    return await _stream(docker, container, folder, read_all)


async def read(docker, container: str, path: str, offset: int) -> AsyncIterator[bytes]:
    """The bytes of one file in the container from `offset` (nothing if it is not there)."""
    from aiodocker.exceptions import DockerError
    blocks: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def copy(pipe: _Pipe) -> None:
        try:
            with tarfile.open(fileobj=pipe, mode="r|") as tar:
                for info, _name in _regular_files(tar):
                    handle = tar.extractfile(info)
                    skip = offset
                    while handle is not None and (block := handle.read(CHUNK)):
                        if skip:
                            cut = min(skip, len(block))
                            block, skip = block[cut:], skip - cut
                        if block and not put(block):
                            return
                    return
        finally:
            put(_END)

    task = asyncio.ensure_future(_stream(docker, container, path, copy))
    try:
        while (block := await asyncio.to_thread(blocks.get)) is not _END:
            yield block
        await task
    except (DockerError, tarfile.ReadError) as exc:
        if not isinstance(exc, DockerError) or exc.status != 404:
            raise
    finally:
        stop.set()
        if not task.done():
            await asyncio.gather(task, return_exceptions=True)
