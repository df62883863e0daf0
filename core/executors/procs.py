"""Local processes: identity by pid plus start time, waiting with pidfds, ending whole trees."""

from __future__ import annotations

import asyncio
import os
import signal


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].split()


def is_same(pid: int, started: int | None) -> bool:
    """Whether `pid` is still the process that had start time `started` (and not a zombie)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == b"Z":
        return False
    return started is None or int(fields[19]) == started


def tree(root: int) -> set[int]:
    """`root`, its descendants, and every process left in its session or process group."""
    parents: dict[int, list[int]] = {}
    members: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is None:
            continue
        pid, ppid, pgrp, session = int(name), int(fields[1]), int(fields[2]), int(fields[3])
        parents.setdefault(ppid, []).append(pid)
        if pgrp == root or session == root:
            members.add(pid)
    found = {root}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return (found | members) - {os.getpid()}


def signal_tree(root: int, sig: signal.Signals) -> int:
    """Send `sig` to the process group of `root` and to every process of its tree."""
    sent = int(_send(os.killpg, root, sig))
    for pid in tree(root):
        sent += _send(os.kill, pid, sig)
    return sent


def _send(kill, target: int, sig: signal.Signals) -> bool:
    """Deliver one signal; False when the process or group no longer exists."""
    try:
        kill(target, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def wait_exit(pid: int, started: int | None, timeout: float | None = None) -> bool:
    """Wait until the process ends; True if it ended, False on timeout. Works for non-children."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not is_same(pid, started):
            return True
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        loop.add_reader(fd, _settle, ended)
        try:
            await asyncio.wait_for(ended, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


def _settle(future: asyncio.Future) -> None:
    """Mark `future` done (a pidfd became readable: the process ended), once."""
    if not future.done():
        future.set_result(True)
