"""Remote files mirrored into local files by byte offset, for every watched run of a box.

One loop per box polls all its watched runs with one remote script (see scripts.poll):
their state from /proc and their exit_status file, and the bytes each file gained past the
LOCAL file's size. So the local size is the offset: a reconnect or an engine restart
resumes exactly where the local copy ends, with no gap and no byte twice. Chunks are
framed with a per-poll token and only written when whole. A watched run is done when
its process has ended (or vanished) and every local file has caught up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from core.errors import ExecutorError
from core.remote import scripts
from core.remote.box import Box

log = logging.getLogger("runyard.remote")

POLL_INTERVAL = 0.5
MAX_CHUNK = 1024 * 1024         # per file and poll
MAX_REPLY = 16 * 1024 * 1024    # all files of one poll together (runs that write fast share it)
FAILURE_PAUSE = 5.0
MIRRORED = ("output.log", "metrics.jsonl")   # a remote run's files that have local copies


def local_copies(local: Path) -> list[tuple[str, Path]]:
    """(remote name, local path) of each mirrored file of a run whose local folder is `local`."""
    return [(name, local / name) for name in MIRRORED]


def reset_local(local: Path) -> None:
    """The local copies start empty, like the run's fresh files on the box."""
    local.mkdir(parents=True, exist_ok=True)
    for name in MIRRORED:
        (local / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class RemoteEnd:
    """How a watched run ended: its status line, when it was written, or that it vanished."""

    status: str | None
    ended_at: float | None
    gone: bool


class Watch:
    """One remote run folder: its files to mirror and the process to watch."""

    def __init__(self, run_dir: str, files: list[tuple[str, Path]], pid: int | None,
                 start_time: str | None):
        self.run_dir = run_dir                  # relative to the box's work folder
        self.files = files                      # (remote name, local file)
        self.pid = pid
        self.start_time = start_time
        self.stopped = asyncio.Event()          # the process is gone; files may still catch up
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.end: RemoteEnd | None = None


@dataclass
class _Reply:
    states: dict
    sizes: dict
    chunks: list
    complete: bool


class Mirror:
    def __init__(self, box: Box, interval: float = POLL_INTERVAL, max_chunk: int = MAX_CHUNK):
        self.box = box
        self.interval = interval
        self.max_chunk = max_chunk
        self.watches: dict[str, Watch] = {}
        self.polls = 0
        self._task: asyncio.Task | None = None
        self._nudge = asyncio.Event()

    def add(self, watch: Watch) -> Watch:
        self.watches[watch.run_dir] = watch
        self._nudge.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name=f"mirror {self.box.label}")
        return watch

    def forget(self, watch: Watch) -> None:
        if self.watches.get(watch.run_dir) is watch:
            del self.watches[watch.run_dir]

    def get(self, run_dir: str) -> Watch | None:
        return self.watches.get(run_dir)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        self.box.want()
        try:
            while self.watches:
                try:
                    behind = await self.poll_once()
                except ExecutorError as exc:
                    log.info("mirror %s: %s", self.box.label, exc.message)
                    await self.box.wait_up()
                    await asyncio.sleep(self.interval)
                    continue
                except OSError as exc:          # the local disk: try again, lose nothing
                    log.warning("mirror %s: cannot write the local copy: %s", self.box.label, exc)
                    await asyncio.sleep(FAILURE_PAUSE)
                    continue
                except Exception:  # a bug must not stop the mirror of every run on the box
                    log.exception("mirror %s: poll failed; trying again", self.box.label)
                    await asyncio.sleep(FAILURE_PAUSE)
                    continue
                if not behind:
                    self._nudge.clear()
                    await _wait(self._nudge, self.interval)
        finally:
            self.box.unwant()

    async def poll_once(self) -> bool:
        """One poll of every watched run; True when some file is still behind."""
        watches = list(self.watches.values())
        if not watches:
            return False
        facts = await self.box.ready()
        token = secrets.token_hex(8)
        runs = [(w.run_dir, w.pid, w.start_time,
                 [(name, _size(path)) for name, path in w.files]) for w in watches]
        files = sum(len(w.files) for w in watches)
        chunk = max(64 * 1024, min(self.max_chunk, MAX_REPLY // max(1, files)))
        result = await self.box.script(scripts.poll(facts.work, token, runs, chunk),
                                       what="reading run output")
        self.polls += 1
        reply = parse(result.stdout, token)
        behind = await asyncio.to_thread(_apply, watches, reply)
        if not reply.complete:
            log.warning("mirror %s: incomplete reply (exit %s): %s", self.box.label,
                        result.returncode, result.error_text())
            return True
        for i, watch in enumerate(watches):
            state = reply.states.get(i)
            if state is None or state[0] == "running":
                continue
            watch.stopped.set()
            caught_up = all(_size(path) >= reply.sizes.get((i, j), 0)
                            for j, (_name, path) in enumerate(watch.files))
            if caught_up and not watch.done.done():
                kind, ended_at, status = state
                watch.end = RemoteEnd(status=status if kind == "ended" else None,
                                      ended_at=ended_at, gone=kind == "gone")
                watch.done.set_result(watch.end)
                self.forget(watch)
        return behind


def parse(data: bytes, token: str) -> _Reply:
    """Read a poll reply; a data chunk counts only if its end marker follows it."""
    reply = _Reply(states={}, sizes={}, chunks=[], complete=False)
    marker = f"\nE{token}\n".encode()
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            break
        fields = data[pos:newline].decode("utf-8", "replace").split(" ", 4)
        pos = newline + 1
        kind = fields[0]
        try:
            if kind == "S" and fields[2] == "ended":
                rest = " ".join(fields[3:])
                mtime, _, status = rest.partition(" ")
                reply.states[int(fields[1])] = ("ended", float(mtime) or None, status)
            elif kind == "S":
                reply.states[int(fields[1])] = (fields[2], None, None)
            elif kind == "Z":
                reply.sizes[(int(fields[1]), int(fields[2]))] = int(fields[3])
            elif kind == "D":
                i, j, offset, length = (int(f) for f in fields[1:5])
                if data[pos + length:pos + length + len(marker)] != marker:
                    log.warning("poll reply: chunk of run %s file %s is torn; dropped", i, j)
                    break
                reply.chunks.append((i, j, offset, data[pos:pos + length]))
                pos += length + len(marker)
            elif kind == "END":
                reply.complete = fields[1:2] == [token]
                break
        except (IndexError, ValueError):
            log.warning("poll reply: unreadable line %r", fields)
            break
    return reply


def _apply(watches: list[Watch], reply: _Reply) -> bool:
    """Append each chunk where the local file ends; True when some file is still behind."""
    for i, j, offset, data in reply.chunks:
        path = watches[i].files[j][1]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            have = handle.tell()
            if offset <= have < offset + len(data):
                handle.write(data[have - offset:])
            elif have != offset + len(data):
                log.warning("mirror: %s is at %d bytes, chunk covers %d-%d; skipped", path, have,
                            offset, offset + len(data))
    return any(_size(watches[i].files[j][1]) < size for (i, j), size in reply.sizes.items())


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for the event at most `timeout` seconds; whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
