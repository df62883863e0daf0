"""What a run wrote: the files of its code folder compared with its snapshot, wherever it ran.

A file is `new` (not in the snapshot), `changed` (another size, or the same size and
another sha256) or `unchanged`; a snapshot file the run deleted is `deleted`. Only files
of the snapshot's size are hashed to tell, where they are (on the box); a hash is kept in
the run folder's `files.json` with the file's stamp (size, mtime, inode, ctime) and used
again while the stamp holds, unless the file was modified within RACY seconds of being
hashed (it may have changed again within the clock's resolution). `files.json` also
keeps the last listing, shown (as of its time) when the target cannot be reached.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import ExecutorError, StoreError, UsageError
from core.executors.base import Executor
from core.models import FileStat, Listing, Run, iso_from_epoch
from core.store.blobs import BlobStore
from core.store.snapshot import manifest

RACY = 2.0
INDEX = "files.json"


@dataclass(frozen=True)
class RunFile:
    """One file of a run as `tui files` shows it."""

    path: str
    size: int
    mtime: float
    status: str                 # new, changed, unchanged, deleted
    sha256: str | None          # when known (compared, or hashed for a pull)
    checkpoint: bool = False    # under the run's --checkpoints folder
    stamp: str = ""

    def to_json(self) -> dict:
        return {"path": self.path, "size": self.size,
                "mtime": iso_from_epoch(self.mtime) if self.mtime else None,
                "status": self.status, "sha256": self.sha256, "checkpoint": self.checkpoint}


@dataclass
class Found:
    """A listing of one run, compared with its snapshot."""

    files: list[RunFile]
    listed_at: float
    unlisted: int = 0
    stale: str | None = None    # why this is the last known listing, not a fresh one

    def written(self) -> list[RunFile]:
        """What the run wrote: new and changed files."""
        return [f for f in self.files if f.status in ("new", "changed")]


class FileIndex:
    """`runs/<id>/files.json`: the last listing, and hashes by stamp."""

    def __init__(self, path: Path):
        self.path = path
        self.hashes: dict[str, tuple[str, str, float]] = {}    # path -> (stamp, sha, hashed at)
        self.last: Found | None = None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        for entry in data.get("hashes", []):
            self.hashes[entry[0]] = (entry[1], entry[2], entry[3])
        self.last = Found([RunFile(**f) for f in data.get("files", [])],
                          data.get("listed_at", 0.0), data.get("unlisted", 0))

    def sha(self, stat: FileStat) -> str | None:
        known = self.hashes.get(stat.path)
        if known is None or known[0] != stat.stamp or stat.mtime >= known[2] - RACY:
            return None
        return known[1]

    def remember(self, stat: FileStat, sha: str, now: float) -> None:
        self.hashes[stat.path] = (stat.stamp, sha, now)

    def save(self, found: Found) -> None:
        present = {f.path for f in found.files}
        data = {"v": 1, "listed_at": found.listed_at, "unlisted": found.unlisted,
                "files": [{**f.__dict__} for f in found.files],
                "hashes": [[p, *v] for p, v in sorted(self.hashes.items()) if p in present]}
        tmp = self.path.with_name(INDEX + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def checkpoint_prefix(run: Run) -> str | None:
    """The run's checkpoint folder relative to its code folder, with a trailing "/"."""
    folder = run.spec.policy.checkpoints
    if not folder:
        return None
    return f"{run.workdir}/{folder}".strip("/") + "/" if run.workdir else folder.strip("/") + "/"


async def find(executor: Executor, run: Run, blobs: BlobStore, run_dir: Path,
               hash_all: bool = False) -> Found:
    """List the run's files where they are and compare them with its snapshot; with
    `hash_all`, every file's sha256 is known afterwards (a pull needs them)."""
    if not run.handle and not run.state.terminal:
        raise UsageError(f"run {run.id} has not started yet: it has no files",
                         hint=f"wait for it: tui wait {run.id}")
    index = FileIndex(run_dir / INDEX)
    try:
        listing = await executor.list_files(run, run.handle)
    except ExecutorError as exc:
        if index.last is None:
            raise
        return replace(index.last, stale=exc.message)
    snapshot = _snapshot_files(run, blobs)
    ask = [s for s in listing.files
           if index.sha(s) is None and (hash_all or _same_size(snapshot, s))]
    if ask:
        hashed = await executor.hash_files(run, run.handle, [s.path for s in ask])
        for stat in ask:
            if stat.path in hashed:
                index.remember(stat, hashed[stat.path], listing.now)
    found = _compare(run, listing, snapshot, index)
    index.save(found)
    return found


async def with_hashes(executor: Executor, run: Run, run_dir: Path, files: list[RunFile],
                      only: set[str] | None = None) -> list[RunFile]:
    """These files with their sha256 (hashed where they are when not known yet; with
    `only`, just those paths); a file that is gone meanwhile keeps None."""
    ask = [f for f in files if f.sha256 is None and (only is None or f.path in only)]
    if not ask:
        return files
    index = FileIndex(run_dir / INDEX)
    hashed = await executor.hash_files(run, run.handle, [f.path for f in ask])
    listed_at = index.last.listed_at if index.last else 0.0    # hashed after the listing
    out = []
    for item in files:
        sha = item.sha256 or hashed.get(item.path)
        if item.sha256 is None and sha is not None and item.stamp:
            index.hashes[item.path] = (item.stamp, sha, listed_at)
        out.append(replace(item, sha256=sha))
    if index.last is not None:
        known = {f.path: f for f in out}
        index.last = replace(index.last, files=[known.get(f.path, f) for f in index.last.files])
        index.save(index.last)
    return out


def learn_hashes(run_dir: Path, files: list[RunFile], learned: dict[str, str]) -> None:
    """Keep the sha256 of files fetched without one (hashed here as they arrived, and
    unchanged on the target meanwhile), so the next pull compares them without asking."""
    if not learned:
        return
    index = FileIndex(run_dir / INDEX)
    if index.last is None:
        return
    for item in files:
        if item.path in learned and item.stamp:
            index.hashes[item.path] = (item.stamp, learned[item.path], index.last.listed_at)
    known = {f.path: f for f in files}
    index.last = replace(index.last, files=[
        replace(f, sha256=learned[f.path]) if f.path in learned and known.get(f.path) else f
        for f in index.last.files])
    index.save(index.last)


def _snapshot_files(run: Run, blobs: BlobStore) -> dict[str, tuple[int, str]]:
    if not run.snapshot:
        return {}
    return {name: (size, ref) for name, entry_type, size, ref in manifest(run.snapshot, blobs)
            if entry_type in ("f", "x")}


def _same_size(snapshot: dict, stat: FileStat) -> bool:
    known = snapshot.get(stat.path)
    return known is not None and known[0] == stat.size


def _compare(run: Run, listing: Listing, snapshot: dict, index: FileIndex) -> Found:
    prefix = checkpoint_prefix(run)
    files = []
    for stat in listing.files:
        sha = index.sha(stat) or _hashed_now(index, stat)
        known = snapshot.get(stat.path)
        if known is None:
            status = "new"
        elif known[0] != stat.size or (sha is not None and sha != known[1]):
            status = "changed"
        else:
            status = "unchanged" if sha is not None else "changed"
        files.append(RunFile(stat.path, stat.size, stat.mtime, status, sha,
                             bool(prefix and stat.path.startswith(prefix)), stat.stamp))
    present = {f.path for f in files}
    for path in sorted(set(snapshot) - present):
        files.append(RunFile(path, 0, 0.0, "deleted", None,
                             bool(prefix and path.startswith(prefix))))
    files.sort(key=lambda f: f.path)
    return Found(files, listing.now, listing.unlisted)


def _hashed_now(index: FileIndex, stat: FileStat) -> str | None:
    """A hash taken in this very listing (too fresh for `sha()` to trust next time)."""
    known = index.hashes.get(stat.path)
    return known[1] if known is not None and known[0] == stat.stamp else None
