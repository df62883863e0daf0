"""Retries: whether a failed attempt is tried again, when, and on which GPUs.

Rules (also in the README):
- A run launched with `--retries N` is tried at most N more times when an attempt ends
  `failed` or `lost` (not `cancelled`, `stopped`, or failed because of a dependency).
- With `--retry-on REGEX`, only when the last 64 KB of the attempt's output match it. The
  regex runs with a time limit (core.userregex): one that takes longer than
  RETRY_ON_TIMEOUT is not retried, and the event says why.
- Attempt k+1 waits `retry_delay * 2**(k-1)` seconds (at most 10 minutes) after attempt k.
- Each attempt is its own run (own id, folder, log and metrics), linked to the first by
  `retry_of`; the failed one points to the next by `retried_as`.
- An attempt whose output says the GPU ran out of memory is retried on other GPUs of its
  target when some are free (its GPU ids are avoided, not forbidden).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core import userregex
from core.models import Run, RunState
from core.requests import DEFAULT_RETRY_DELAY

TAIL_BYTES = 64 * 1024
RETRY_ON_TIMEOUT = 0.5          # seconds --retry-on may take on an attempt's output
MAX_DELAY = 600.0
OUT_OF_GPU_MEMORY = re.compile(
    r"CUDA out of memory|OutOfMemoryError|CUDA_ERROR_OUT_OF_MEMORY|CUBLAS_STATUS_ALLOC_FAILED|"
    r"cudaErrorMemoryAllocation|RESOURCE_EXHAUSTED: Out of memory")


@dataclass(frozen=True)
class Retry:
    delay: float
    avoid_gpus: tuple[int, ...]
    note: str                       # what the event says about it


def decide(run: Run, state: RunState, cause: str | None, log_path: Path) -> tuple[Retry | None, str | None]:
    """The retry to make after this attempt ended in `state`, or None and why not (or None)."""
    if state not in (RunState.FAILED, RunState.LOST) or cause is not None:
        return None, None
    policy = run.spec.policy
    retries = policy.retries or 0                 # a stored policy has every default filled
    base_delay = policy.retry_delay if policy.retry_delay is not None else DEFAULT_RETRY_DELAY
    if retries <= 0:
        return None, None
    if run.attempt > retries:
        return None, f"no retry left ({retries} allowed)"
    tail = read_tail(log_path)
    if policy.retry_on:
        try:
            pattern = userregex.compile_pattern(policy.retry_on, userregex.MULTILINE)
            matched = userregex.search(pattern, tail, RETRY_ON_TIMEOUT)
        except ValueError as exc:
            return None, f"not retried: --retry-on {policy.retry_on!r} is not a regex ({exc})"
        except userregex.PatternTimeout:
            return None, (f"not retried: --retry-on {policy.retry_on!r} took longer than "
                          f"{RETRY_ON_TIMEOUT:g} s on the output and was given up")
        if not matched:
            return None, f"not retried: the output does not match --retry-on {policy.retry_on!r}"
    delay = min(MAX_DELAY, base_delay * 2 ** (run.attempt - 1))
    avoid: tuple[int, ...] = ()
    note = f"attempt {run.attempt + 1} of {retries + 1} in {delay:g} s"
    if run.gpu_ids and OUT_OF_GPU_MEMORY.search(tail):
        avoid = tuple(run.gpu_ids)
        note += (f"; out of GPU memory on GPU {','.join(map(str, avoid))}, "
                 "so other GPUs are preferred")
    return Retry(delay=delay, avoid_gpus=avoid, note=note), None


def read_tail(path: Path, size: int = TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - size))
            return handle.read(size).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
