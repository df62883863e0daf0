"""A target's runs free to start, in queue order, with runs asking for GPUs kept apart.

Queue order is priority (higher first), then id. A lane walks two orders at once, runs
asking for no GPU and runs asking for GPUs, merged; once the scheduler finds that a run
asking for GPUs cannot get them (`hold_gpus`), the walk stops reading the GPU order, so
10,000 runs waiting for a busy GPU cost one read per pass, not 10,000.
"""

from __future__ import annotations

from typing import Iterator

from core.engine.scheduler import Waiting


class _Order:
    """Runs in queue order; a dropped run is skipped, and the order rebuilt when mostly
    dropped."""

    def __init__(self) -> None:
        self.items: dict[int, Waiting] = {}
        self._keys: list[tuple[int, int]] = []      # (-priority, id)
        self._sorted = True

    def add(self, item: Waiting) -> None:
        self.items[item.run_id] = item
        self._keys.append((-item.priority, item.run_id))
        self._sorted = False

    def walk(self) -> Iterator[Waiting]:
        keys = self._keys
        if not self._sorted or len(keys) > 2 * len(self.items) + 64:
            keys = self._keys = sorted((-w.priority, w.run_id) for w in self.items.values())
            self._sorted = True
        dead = 0
        while dead < len(keys) and keys[dead][1] not in self.items:
            dead += 1
        if dead:
            del keys[:dead]
        for _key, run_id in keys:
            item = self.items.get(run_id)
            if item is not None:
                yield item


def _key(item: Waiting) -> tuple[int, int]:
    return -item.priority, item.run_id


class Lane:
    """One target's runs that may start; `items` holds them all, by id."""

    def __init__(self) -> None:
        self.items: dict[int, Waiting] = {}
        self.asking_gpus: dict[int, dict[int, Waiting]] = {}    # GPU count -> its runs
        self._plain = _Order()
        self._gpu = _Order()
        self._gpus_held = False

    def add(self, item: Waiting) -> None:
        self.items[item.run_id] = item
        if item.gpus:
            self.asking_gpus.setdefault(item.gpus, {})[item.run_id] = item
            self._gpu.add(item)
        else:
            self._plain.add(item)

    def discard(self, run_id: int) -> None:
        item = self.items.pop(run_id, None)
        if item is None:
            return
        if item.gpus:
            self._gpu.items.pop(run_id, None)
            same = self.asking_gpus.get(item.gpus, {})
            same.pop(run_id, None)
            if not same:
                self.asking_gpus.pop(item.gpus, None)
        else:
            self._plain.items.pop(run_id, None)

    def hold_gpus(self, target: str) -> None:
        """A run asking for GPUs cannot have them now: the walk in progress reads no more
        runs asking for GPUs (they would wait behind it; core.engine.scheduler)."""
        self._gpus_held = True

    def ordered(self) -> Iterator[Waiting]:
        """The runs in queue order; read only as far as the caller needs."""
        self._gpus_held = False
        plain, gpu = self._plain.walk(), self._gpu.walk()
        p, g = next(plain, None), next(gpu, None)
        while True:
            if self._gpus_held:
                g = None
            if p is not None and (g is None or _key(p) < _key(g)):
                yield p
                p = next(plain, None)
            elif g is not None:
                yield g
                g = next(gpu, None)
            else:
                return
