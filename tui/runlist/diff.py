"""What differs between two runs: params, final metrics with deltas, and their code.

The code diff compares the two snapshot manifests (core.store.snapshot.manifest) and, for text
files that changed, diffs the blob contents. Only files up to MAX_FILE_BYTES are diffed
and the whole diff stops at MAX_DIFF_LINES; binary files are named, not shown.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from core.store.blobs import BlobStore
from core.errors import StoreError
from core.models import Run
from core.store.snapshot import manifest

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import TypeGuard

MAX_FILE_BYTES = 1024 * 1024
MAX_DIFF_LINES = 4000


@dataclass
class FileChange:
    path: str
    status: str                  # added, removed, changed, mode
    lines: list[str] = field(default_factory=list)   # unified diff lines
    note: str = ""


@dataclass
class RunDiff:
    left: Run
    right: Run
    params: list[tuple[str, object, object]]
    metrics: list[tuple[str, object, object, float | None]]
    files: list[FileChange]
    problem: str = ""            # why the code could not be compared
    truncated: bool = False


_MISSING = object()


def compare(left: Run, right: Run, blobs: BlobStore) -> RunDiff:
    keys = sorted(set(left.spec.params) | set(right.spec.params))
    params = [(k, left.spec.params.get(k, _MISSING), right.spec.params.get(k, _MISSING))
              for k in keys]
    params = [(k, a, b) for k, a, b in params if repr(a) != repr(b)]
    metrics = []
    for key in sorted(set(left.metrics) | set(right.metrics)):
        a, b = left.metrics.get(key), right.metrics.get(key)
        delta = b - a if _number(a) and _number(b) else None
        metrics.append((key, a, b, delta))
    diff = RunDiff(left, right, [(k, _shown(a), _shown(b)) for k, a, b in params], metrics, [])
    if left.snapshot == right.snapshot:
        return diff
    try:
        diff.files, diff.truncated = _code(left.snapshot, right.snapshot, blobs)
    except StoreError as exc:
        diff.problem = exc.message
    return diff


def _number(value) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _shown(value):
    return None if value is _MISSING else value


def _code(a: str | None, b: str | None, blobs: BlobStore) -> tuple[list[FileChange], bool]:
    if not a or not b:
        raise StoreError("a run has no snapshot")
    before = {e[0]: e for e in manifest(a, blobs)}
    after = {e[0]: e for e in manifest(b, blobs)}
    changes: list[FileChange] = []
    budget = MAX_DIFF_LINES
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None or new is None:
            status = "added" if old is None else "removed"
        elif old[3] == new[3]:
            changes.append(FileChange(path, "mode", note=f"{old[1]} -> {new[1]}"))
            continue
        else:
            status = "changed"
        change = FileChange(path, status)
        change.lines, change.note = _file_diff(path, old, new, blobs, budget)
        budget -= len(change.lines)
        changes.append(change)
    return changes, budget <= 0


def _text(entry, blobs: BlobStore) -> list[str] | None:
    if entry is None:
        return []
    _path, kind, size, ref = entry
    if kind == "l":
        return [f"-> {ref}\n"]
    if size > MAX_FILE_BYTES:
        return None
    data = blobs.read(ref)
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def _file_diff(path, old, new, blobs: BlobStore, budget: int) -> tuple[list[str], str]:
    if budget <= 0:
        return [], "diff not shown (the diff is long; see the files in the run folders)"
    try:
        before, after = _text(old, blobs), _text(new, blobs)
    except OSError as exc:
        return [], f"cannot read: {exc.strerror}"
    if before is None or after is None:
        return [], "binary or large file differs"
    lines = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=3))
    return [line.rstrip("\n") for line in lines[2:budget + 2]], ""
