"""Shared trees of snapshots: the read-only lower layer under a run's overlay code folder.

A snapshot's tree (`trees/<snapshot id>/`) holds its files as hard links into a pool kept
by content and mode (`trees/pool/ab/cdef...f`, `...x` for executables), so a tree costs
its folders' entries and the contents no earlier tree had: a new snapshot of a
50,000-file project that changes one file adds one pool file. The pool is a second copy
of the blobs (reflinked where the file system can), because a blob is read-only (0444)
and a run must see its files with their own modes, writable. Nothing writes into a tree:
a run's writes land in its own folder through the overlay (core.executors.overlay).
A tree is built once, in a temporary folder renamed into place, so a reader sees a whole
tree or none.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

from core.store.blobs import BlobStore
from core.store.snapshot import manifest


# One build per snapshot at a time: the runs of a sweep start together, and the later ones
# wait for the tree the first one builds rather than building it again beside it.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def tree(snapshot_id: str, blobs: BlobStore, root: Path) -> Path:
    """The snapshot's shared tree under `root`, built now if it is not there yet."""
    dest = root / snapshot_id
    if dest.is_dir():
        return dest
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(snapshot_id, threading.Lock())
    with lock:
        if dest.is_dir():
            return dest
        _build_whole(snapshot_id, blobs, root, dest)
    with _LOCKS_LOCK:
        _LOCKS.pop(snapshot_id, None)
    return dest


def _build_whole(snapshot_id: str, blobs: BlobStore, root: Path, dest: Path) -> None:
    root.mkdir(mode=0o700, exist_ok=True)
    # One engine per store, one build per snapshot in it (tree() holds its lock): any other
    # building folder of this snapshot was left by an engine that was killed mid-build.
    for left in root.glob(f".building-{snapshot_id[:16]}-*"):
        shutil.rmtree(left, ignore_errors=True)
    building = root / f".building-{snapshot_id[:16]}-{os.getpid()}-{threading.get_ident()}"
    try:
        _build(snapshot_id, blobs, root / "pool", building)
        try:
            os.rename(building, dest)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another start built the same tree meanwhile: theirs is as good as ours
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _build(snapshot_id: str, blobs: BlobStore, pool: Path, dest: Path) -> None:
    # Paths as strings: 50,000 pathlib joins cost more than the links themselves.
    made: set[str] = set()
    pooled: set[str] = set()            # pool folders known to exist
    dest.mkdir(parents=True)
    top, stock = os.fspath(dest), os.fspath(pool)
    for name, kind, _size, ref in manifest(snapshot_id, blobs):
        target = f"{top}/{name}"
        parent = os.path.dirname(name)
        if parent and parent not in made:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            made.add(parent)
        if kind == "l":
            os.symlink(ref, target)
            continue
        mode = 0o755 if kind == "x" else 0o644
        source = f"{stock}/{ref[:2]}/{ref[2:]}{kind}"
        try:
            _link_or_copy(source, target, ref, mode, blobs)
        except FileNotFoundError:                     # content no tree had yet
            if ref[:2] not in pooled:
                os.makedirs(os.path.dirname(source), exist_ok=True)
                pooled.add(ref[:2])
            _add_to_pool(ref, mode, blobs, source)
            _link_or_copy(source, target, ref, mode, blobs)


def _add_to_pool(digest: str, mode: int, blobs: BlobStore, path: str) -> None:
    """The pool's file for this content and mode, made from the blob (whole or not at all:
    written aside, then renamed into place)."""
    folder, name = os.path.split(path)
    partial = f"{folder}/.{name}.{os.getpid()}-{threading.get_ident()}"
    blobs.copy_out(digest, partial, mode)
    os.rename(partial, path)


def _link_or_copy(source: str, target: str, digest: str, mode: int, blobs: BlobStore) -> None:
    """A hard link to the pool's file; a copy of the blob past the file system's limit of
    links per file (65,000 on ext4: an empty `__init__.py` in many trees)."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
        blobs.copy_out(digest, target, mode)
