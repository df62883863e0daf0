"""One client connection to the engine: who is asking, the request, heartbeats, the reply."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time

from core import protocol, requests
from core.errors import RunyardError

log = logging.getLogger("runyard.engine")

# Seconds between heartbeat lines to a client whose request is being worked on.
HEARTBEAT = 1.0
# Seconds a request working through a long list may hold the loop before it lets it run.
BREATHE = 0.5


def peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The uid of the process at the other end of the socket (SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class Breather:
    """Lets the event loop run (heartbeats, other clients) every BREATHE seconds while a
    request works through a long list synchronously; rarely enough that the scheduler,
    woken by each change, does not redo its work after every item."""

    def __init__(self):
        self.last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self.last >= BREATHE:
            await asyncio.sleep(0)
            self.last = time.monotonic()


def hung_up(writer: asyncio.StreamWriter) -> bool:
    """Whether the client already closed its end: it gave up waiting (the engine was stopped
    or stalled), so what it asked for must not be carried out behind its back."""
    transport_sock = writer.get_extra_info("socket")
    if transport_sock is None:
        return False
    sock = socket.socket(fileno=os.dup(transport_sock.fileno()))
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.close()


async def with_heartbeats(work, writer: asyncio.StreamWriter) -> dict:
    """Await the op, telling the client every HEARTBEAT seconds that the engine is alive.
    A client that went away meanwhile does not stop the op (a launch still completes)."""
    task = asyncio.ensure_future(work)
    beating = True
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT if beating else None)
        if done:
            return task.result()
        try:
            await write_message(writer, {"event": "alive"})
        except (ConnectionError, RuntimeError):
            beating = False


async def read_request(reader: asyncio.StreamReader) -> requests.Request:
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    return requests.parse(protocol.decode_request(line))


async def write_message(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(protocol.encode(message))
    await writer.drain()


async def reply_error(writer: asyncio.StreamWriter, exc: RunyardError) -> None:
    try:
        await write_message(writer, {"ok": False, "error": exc.to_dict()})
    except (ConnectionError, RuntimeError):
        log.info("client went away before the error reply")
