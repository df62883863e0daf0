"""A container's output and metrics, mirrored into the run's local folder by byte count.

Docker keeps a container's output in its log (the "local" driver), which outlives runyard's
engine and a restart of the Docker engine. Mirroring reads the whole log stream
(stdout and stderr in the order Docker stored them, the same on every read) and skips
the bytes `output.log` already holds from this container, so a reconnect, a runyard
restart or a Docker restart adds no gap and no duplicate. aiodocker's own log reader
decodes text (and drops undecodable bytes), so the raw stream is read here: frames of
an 8-byte header (stream, 0, 0, 0, big-endian length) and the payload, as the Engine
API documents for containers without a TTY.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import aiohttp
from aiodocker.exceptions import DockerError

from core.executors.docker.client import CONNECT_TIMEOUT

log = logging.getLogger("runyard.engine")

STDOUT, STDERR = 1, 2
METRICS_INTERVAL = 2.0      # seconds between copies of a remote run's metrics file


class StreamBroken(Exception):
    """The log stream ended in the middle of a frame (the connection went away)."""


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def mirror_logs(docker, container: str, log_path: Path, log_base: int,
                      follow: bool) -> int:
    """Append the container's output that `log_path` lacks; return the bytes appended.

    `log_base` is the size `log_path` had when the container was created. With `follow`
    this returns when the container stops (or the connection drops).
    """
    skip = max(0, file_size(log_path) - log_base)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=CONNECT_TIMEOUT,
                                    sock_connect=CONNECT_TIMEOUT)
    params = {"stdout": True, "stderr": True, "follow": follow}
    frames = FrameReader()
    written = 0
    # `_query` is aiodocker's request primitive, the one its own log reader uses.
    async with docker._query(f"containers/{container}/logs", params=params,
                             timeout=timeout) as response:
        with open(log_path, "ab", buffering=0) as out:
            while chunk := await response.content.readany():
                # Everything already received, at once: a follow stream arrives as many
                # tiny HTTP chunks (one per line written), too many to handle one by one.
                data = frames.feed(chunk + response.content.read_nowait())
                if skip:
                    dropped = min(skip, len(data))
                    data, skip = data[dropped:], skip - dropped
                if data:
                    out.write(data)
                    written += len(data)
    if frames.pending:
        raise StreamBroken("the log stream ended inside a frame")
    return written


class FrameReader:
    """Turns the multiplexed stream, fed in chunks of any size, into output bytes."""

    def __init__(self):
        self.buffer = bytearray()

    @property
    def pending(self) -> bool:
        return bool(self.buffer)

    def feed(self, chunk: bytes) -> bytes:
        """The stdout and stderr payloads of every frame completed by `chunk`, in order."""
        buffer = self.buffer
        buffer += chunk
        out = bytearray()
        at = 0
        while len(buffer) - at >= 8:
            kind, length = struct.unpack_from(">BxxxL", buffer, at)
            if len(buffer) - at - 8 < length:
                break
            if kind in (STDOUT, STDERR):
                out += buffer[at + 8:at + 8 + length]
            at += 8 + length
        del buffer[:at]
        return bytes(out)


async def mirror_file(docker, container: str, inner_path: str, local_path: Path) -> int:
    """Copy what the container's file has beyond the local copy's size; return bytes added.

    For an engine on another machine, where the file cannot be bind-mounted. A missing
    file is not an error (the run has not written one yet).
    """
    try:
        archive = await docker.containers.container(container).get_archive(inner_path)
    except DockerError as exc:
        if exc.status == 404:
            return 0
        raise
    with archive:
        member = archive.next()
        handle = archive.extractfile(member) if member is not None and member.isfile() else None
        if handle is None:
            return 0
        data = handle.read()
    have = file_size(local_path)
    if len(data) <= have:
        return 0
    with open(local_path, "ab") as out:
        out.write(data[have:])
    return len(data) - have


async def mirror_file_while(docker, container: str, inner_path: str, local_path: Path,
                            stop: asyncio.Event) -> None:
    """Copy a remote run's file every few seconds until `stop` is set (the final copy is
    the caller's, once the container has ended); a failed copy waits for the next turn."""
    while not await _set_within(stop, METRICS_INTERVAL):
        try:
            await mirror_file(docker, container, inner_path, local_path)
        except (DockerError, OSError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
            log.warning("copying %s from container %s: %s", inner_path, container[:12], exc)


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        return False
    return True
