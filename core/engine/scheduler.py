"""Placement: which queued runs start now, on which GPU ids. Pure functions, no I/O.

Rules (also in the README):
- Each target runs at most `max_parallel` runs at once.
- A run asking for N GPUs gets N specific ids; a GPU holds at most `gpu_share` runs
  (1 by default, so no two runs share a GPU).
- Queue order is priority (higher first), then FIFO by id. A run waiting for GPUs holds
  back the runs queued after it that also ask for GPUs on that target, so a run asking
  for many GPUs is not starved by smaller ones; runs asking for no GPU still start while
  the target has free slots.
- A retry after running out of GPU memory avoids the GPUs it failed on when others are
  free (`Waiting.avoid`), and takes them when nothing else is.
- A target that places GPUs itself (`places_gpus`, Slurm) takes any request; runyard hands
  out no ids there, it only counts runs against `max_parallel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class Capacity:
    target: str
    max_parallel: int
    gpu_ids: tuple[int, ...] = ()
    gpu_share: int = 1
    places_gpus: bool = False       # the target picks GPUs itself (Slurm): no ids from us


@dataclass(frozen=True)
class Waiting:
    run_id: int
    target: str
    gpus: int
    priority: int = 0
    avoid: tuple[int, ...] = ()


@dataclass(frozen=True)
class Busy:
    target: str
    gpu_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Placement:
    run_id: int
    target: str
    gpu_ids: tuple[int, ...]


def fits(capacity: Capacity, gpus: int) -> str | None:
    """Why a run asking for `gpus` can never start on this target, or None if it can."""
    if gpus > len(capacity.gpu_ids) and not capacity.places_gpus:
        have = len(capacity.gpu_ids)
        return (f"target {capacity.target!r} has {have} GPU{'s' if have != 1 else ''}; "
                f"the run asks for {gpus}")
    return None


def place(waiting: Iterable[Waiting], busy: list[Busy], capacities: dict[str, Capacity],
          hold_gpus: Callable[[str], None] | None = None) -> list[Placement]:
    """The runs to start now, in queue order, with their GPU ids. `waiting` already in
    queue order is read only until every target is full; `hold_gpus(target)` is told when
    a run asking for GPUs there must wait, so that the runs behind it asking for GPUs need
    not be read (core.engine.lanes)."""
    running: dict[str, int] = {}
    load: dict[str, dict[int, int]] = {}
    for held in busy:
        running[held.target] = running.get(held.target, 0) + 1
        per_gpu = load.setdefault(held.target, {})
        for gpu in held.gpu_ids:
            per_gpu[gpu] = per_gpu.get(gpu, 0) + 1
    full: set[str] = set()              # no free slot: nothing more starts there
    waiting_for_gpus: set[str] = set()  # a GPU run waits: later GPU runs wait behind it
    out: list[Placement] = []
    ordered = waiting if not isinstance(waiting, list) else \
        sorted(waiting, key=lambda w: (-w.priority, w.run_id))
    for item in ordered:
        if len(full) == len(capacities):
            break
        capacity = capacities.get(item.target)
        if capacity is None or item.target in full:
            continue
        if item.gpus and item.target in waiting_for_gpus:
            continue
        if running.get(item.target, 0) >= capacity.max_parallel:
            full.add(item.target)
            continue
        if capacity.places_gpus:
            running[item.target] = running.get(item.target, 0) + 1
            out.append(Placement(run_id=item.run_id, target=item.target, gpu_ids=()))
            if running[item.target] >= capacity.max_parallel:
                full.add(item.target)
            continue
        per_gpu = load.setdefault(item.target, {})
        free = sorted((gpu for gpu in capacity.gpu_ids if per_gpu.get(gpu, 0) < capacity.gpu_share),
                      key=lambda gpu: (gpu in item.avoid, per_gpu.get(gpu, 0), gpu))
        if len(free) < item.gpus:
            waiting_for_gpus.add(item.target)
            if hold_gpus is not None:
                hold_gpus(item.target)
            continue
        chosen = tuple(sorted(free[:item.gpus]))
        for gpu in chosen:
            per_gpu[gpu] = per_gpu.get(gpu, 0) + 1
        running[item.target] = running.get(item.target, 0) + 1
        out.append(Placement(run_id=item.run_id, target=item.target, gpu_ids=chosen))
        if running[item.target] >= capacity.max_parallel:
            full.add(item.target)
    return out
