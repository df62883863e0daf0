"""Reading a tar stream as it arrives: each regular file's name and bytes, never all in memory.

Python's tarfile reads the stream in a thread, from a pipe the event loop fills as the
bytes arrive (from a box over SSH, or from a Docker engine's archive API), and hands the
regular files' blocks back in order. A stream that breaks raises the error of whoever
was sending it, not tarfile's complaint about a short archive.
"""

from __future__ import annotations

import asyncio
import queue
import tarfile
import threading
from typing import IO, AsyncIterator, cast

BLOCK = 1024 * 1024
PIPE_LIMIT = 8 * BLOCK      # bytes read ahead of the tar reader
_END = object()


class Pipe:
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


async def files_in(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, float, bytes]]:
    """(member name, its mtime, block) for each block of each regular file in the tar that
    `chunks` carry, in order; an empty file gives one empty block."""
    pipe = Pipe()
    blocks: queue.Queue = queue.Queue(maxsize=16)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            with tarfile.open(fileobj=cast(IO[bytes], pipe), mode="r|") as tar:
                for info in tar:
                    if not info.isreg():
                        continue
                    handle = tar.extractfile(info)
                    sent = False
                    while handle is not None and (block := handle.read(BLOCK)):
                        if not put((info.name, float(info.mtime), block)):
                            return
                        sent = True
                    if not sent and not put((info.name, float(info.mtime), b"")):
                        return
        except (tarfile.TarError, OSError) as exc:
            put(exc)
        finally:
            pipe.abandon()
            put(_END)

    async def feed() -> None:
        try:
            async for data in chunks:
                if not await asyncio.to_thread(pipe.feed, data):
                    return
        except BaseException as exc:      # the sender's failure is the one to report
            failure.append(exc)
        finally:
            pipe.end()

    reader = threading.Thread(target=read, name="tar-reader", daemon=True)
    reader.start()
    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            item = await asyncio.to_thread(blocks.get)
            if item is _END:
                break
            if isinstance(item, BaseException):
                await feeder
                raise (failure[0] if failure else item)
            yield item
        await feeder
        if failure:
            raise failure[0]
    finally:
        stop.set()
        pipe.abandon()
        if not feeder.done():
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
