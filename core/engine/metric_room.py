"""Metrics never take the store's last free space: the end of a run must always fit.

A run that prints millions of metric lines grows the database far more than its log. Once
the store's file system has less free space than RESERVE (a share of it: at least the
smaller of 64 MB and half the file system, at most 256 MB), the engine stops storing metric
points and says so once on each run it pauses ("metrics paused: ..."); state changes (a run
starting or ending) still fit in what is kept. Reading goes on from the last stored
offset once there is room again, also for runs that ended meanwhile: such a run is marked in
the store (`pending` in its ingest position), so an engine that restarts catches it up too,
within the same limit, instead of filling the disk again.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("runyard.engine")

RESERVE_SHARE = 0.05
RESERVE_MIN = 64 * 1024 * 1024
RESERVE_MAX = 256 * 1024 * 1024


def reserve(total: int) -> int:
    """The free bytes metrics leave alone on a file system of `total` bytes."""
    return int(min(RESERVE_MAX, max(min(RESERVE_MIN, total / 2), total * RESERVE_SHARE)))


def shortage(home) -> str | None:
    """Why metrics must wait now (too little free space), or None."""
    try:
        info = os.statvfs(home)
    except OSError as exc:
        return f"cannot see the store's free space ({exc.strerror or exc})"
    free, total = info.f_bavail * info.f_frsize, info.f_blocks * info.f_frsize
    keep = reserve(total)
    if free >= keep:
        return None
    return (f"the store's disk has {_mb(free)} free, and {_mb(keep)} is kept for the runs' "
            "state; reading goes on when there is more room")


def _mb(size: float) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"


class MetricRoom:
    """Which runs have metric reading paused, and which ended runs still need catching up."""

    def __init__(self, home, pending: set[int]):
        self.home = home
        self.paused: set[int] = set()
        self.catch_up: set[int] = set(pending)     # ended runs with unread metrics

    def shortage(self) -> str | None:
        return shortage(self.home)

    def pause(self, run_id: int) -> bool:
        """Note the run as paused; True the first time (then the run is told why)."""
        if run_id in self.paused:
            return False
        self.paused.add(run_id)
        return True

    def resumed(self, run_id: int) -> bool:
        """The run's metrics are read again; True if they had been paused."""
        if run_id not in self.paused:
            return False
        self.paused.discard(run_id)
        return True
