"""A container's files through Docker's archive API, read as a stream (never whole in memory).

`GET /containers/{id}/archive?path=` answers with a tar of that path, read as it arrives
(core.remote.tar_stream); aiodocker's own get_archive reads the whole answer into memory
first, which a 10 GB checkpoint must not do. `scan` gives each regular file's name, size,
mtime and sha256; `read` one file's bytes. Docker cannot send a file from an offset: a
file is read from its start, and the bytes before the offset are skipped here, not
written again.
"""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
from dataclasses import dataclass
from typing import AsyncIterator

import aiohttp
from aiodocker.exceptions import DockerError

from core.executors.docker.client import CONNECT_TIMEOUT
from core.remote.tar_stream import files_in

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Member:
    path: str               # relative to the archived folder
    size: int
    mtime: float
    sha256: str


async def _body(docker, container: str, path: str) -> AsyncIterator[bytes]:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=CONNECT_TIMEOUT,
                                    sock_connect=CONNECT_TIMEOUT)
    # `_query` is aiodocker's request primitive (its get_archive reads all at once).
    async with docker._query(f"containers/{container}/archive", params={"path": path},
                             timeout=timeout) as response:
        async for data in response.content.iter_chunked(CHUNK):
            yield data


def _below(name: str) -> str:
    """A member's path below the archived folder ("" for a single file archived alone)."""
    return name.split("/", 1)[1] if "/" in name else ""


async def scan(docker, container: str, folder: str) -> list[Member]:
    """Every regular file under `folder` in the container, hashed as it streams by."""
    found: dict[str, tuple[hashlib._Hash, list[int], float]] = {}
    async for name, mtime, block in files_in(_body(docker, container, folder)):
        if name not in found:
            found[name] = (hashlib.sha256(), [0], mtime)
        hasher, size, _mtime = found[name]
        await asyncio.to_thread(hasher.update, block)
        size[0] += len(block)
    return [Member(_below(name), size[0], mtime, hasher.hexdigest())
            for name, (hasher, size, mtime) in found.items()]


async def read(docker, container: str, path: str, offset: int) -> AsyncIterator[bytes]:
    """The bytes of one file in the container from `offset` (nothing if it is not there)."""
    skip = offset
    try:
        async for _name, _mtime, block in files_in(_body(docker, container, path)):
            if skip:
                cut = min(skip, len(block))
                block, skip = block[cut:], skip - cut
            if block:
                yield block
    except DockerError as exc:
        if exc.status != 404:
            raise
    except tarfile.ReadError:
        return                                  # an empty answer: nothing there
