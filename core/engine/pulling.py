"""Pulling a run's files to this machine: only what is missing travels, and a cut resumes.

For each file:
1. a file at the destination with the same content is left alone (known from the record
   of the last pull there, or hashed here): a second pull of unchanged files sends 0 bytes;
2. else content this machine already has (the store's blobs: the snapshot's files; a copy
   an earlier pull wrote elsewhere; a file of this pull with the same content) is copied
   here, and nothing travels;
3. else its bytes are fetched from the target into `DEST/.runyard-partial/`, starting at
   what an earlier, interrupted pull left there, hashed as they arrive, and renamed into
   place with the file's own mtime once checked: against its sha256 when the target
   hashed it (it had to, to tell whether 1 or 2 applied), else by looking at the file on
   the target again (the same size, mtime, inode and ctime as when it was listed: it did
   not change while it was sent). A file that changed is named, not kept.
The target hashes only the files for which this machine has a candidate of the same size,
so a first pull reads each file on the target once.

A target that stops answering raises its ExecutorError (exit 5): the files already in
place stay, and so does the partial file, for the next pull to go on from.

Paths come from the run, so they are untrusted: each must stay under DEST (no `..`, no
absolute path) and no folder on the way may be a symlink.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core.engine.filelist import RunFile
from core.errors import StoreError, UsageError
from core.executors.base import Executor
from core.executors.folder_files import CHUNK, hash_file
from core.models import Run
from core.store.blobs import BlobStore

PARTIAL = ".runyard-partial"


@dataclass
class PullResult:
    to: Path
    files: list[dict] = field(default_factory=list)     # path, size, sha256, how
    content_bytes: int = 0          # file content that travelled from the target
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.files:
            out[item["how"]] = out.get(item["how"], 0) + 1
        return out


def target_path(dest: Path, path: str) -> Path:
    """`dest/path` for a path a run gave; refused when it would leave `dest`."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or "\0" in path:
        raise UsageError(f"refusing to pull {path!r}: not a plain relative path")
    return dest.joinpath(*parts)


def _make_parents(dest: Path, target: Path) -> None:
    """Create the folders between `dest` and `target`, refusing to go through a symlink."""
    folder = dest
    for part in target.relative_to(dest).parts[:-1]:
        folder = folder / part
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            os.mkdir(folder)
            continue
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"refusing to pull into {folder}: it is not a folder "
                             "(a symlink or a file is in the way)")


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


class Puller:
    """One pull of one run's files into `dest`."""

    def __init__(self, executor: Executor, run: Run, blobs: BlobStore, dest: Path,
                 recorded: dict[str, tuple[int, int, str]]):
        self.executor = executor
        self.run = run
        self.blobs = blobs
        self.dest = dest
        self.recorded = recorded        # path -> (size, mtime_ns, sha) of the last pull here
        self.result = PullResult(dest)
        self.partials = dest / PARTIAL
        self.copies: dict[str, list[tuple[Path, int, int]]] = {}   # sha -> earlier copies
        self.copy_sizes: set[tuple[str, int]] = set()              # (path, size) of those
        self.learned: dict[str, str] = {}       # sha256 of files fetched without one, by path

    def know_copies(self, copies: list[tuple[str, Path, int, int, str]]) -> None:
        """Files earlier pulls wrote elsewhere (path in the run, where, size, mtime_ns,
        sha256): a source when they are still as written."""
        for path, local, size, mtime_ns, sha in copies:
            self.copies.setdefault(sha, []).append((local, size, mtime_ns))
            self.copy_sizes.add((path, size))

    def worth_hashing(self, files: list[RunFile]) -> list[RunFile]:
        """The files whose sha256 the target should compute first: those this machine may
        already have (something of the same size at their place, or an earlier copy)."""
        out = []
        for item in files:
            if item.sha256 is not None:
                continue
            if (item.path, item.size) in self.copy_sizes or \
                    _size_of(target_path(self.dest, item.path)) == item.size or \
                    item.status == "unchanged":
                out.append(item)
        return out

    async def pull(self, files: list[RunFile]) -> PullResult:
        try:
            await asyncio.to_thread(self.dest.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.dest}: {exc.strerror or exc}") from None
        fetch: list[RunFile] = []
        have: dict[str, Path] = {}                     # sha -> a local file with it
        for item in files:
            target = target_path(self.dest, item.path)
            how = None
            if item.sha256 is not None:
                how = await asyncio.to_thread(self._local, item, target, have)
            if how is None:
                fetch.append(item)
            else:
                self._done(item, how, item.sha256)
        if fetch:
            await self._fetch(fetch)
        await asyncio.to_thread(_remove_if_empty, self.partials)
        return self.result

    def _done(self, item: RunFile, how: str, sha: str | None) -> None:
        self.result.files.append({"path": item.path, "size": item.size, "sha256": sha,
                                  "how": how})

    def _local(self, item: RunFile, target: Path, have: dict[str, Path]) -> str | None:
        """Make the file right from what is here: "unchanged", "copied", or None (fetch)."""
        sha = item.sha256
        if sha is None:
            return None
        if self._up_to_date(item, target):
            have.setdefault(sha, target)
            return "unchanged"
        source = have.get(sha) or self._earlier_copy(sha)
        if source is None and self.blobs.has(sha):
            source = self.blobs.path(sha)
        if source is None:
            return None
        partial = self.partial(item)
        try:
            shutil.copyfile(source, partial)
        except OSError as exc:
            raise StoreError(f"cannot write {partial}: {exc.strerror or exc}") from None
        self.place(item, partial, target)
        have.setdefault(sha, target)
        return "copied"

    def _earlier_copy(self, sha: str) -> Path | None:
        for path, size, mtime_ns in self.copies.get(sha, []):
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns) == (size, mtime_ns):
                return path
        return None

    def _up_to_date(self, item: RunFile, target: Path) -> bool:
        try:
            info = os.lstat(target)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != item.size:
            return False
        known = self.recorded.get(item.path)
        if known is not None and known[:2] == (info.st_size, info.st_mtime_ns):
            return known[2] == item.sha256
        try:
            return hash_file(target) == item.sha256
        except OSError:
            return False

    def partial(self, item: RunFile) -> Path:
        """Where the file's bytes gather: named by its content when known, else by its path
        and stamp (a file that changed on the target starts a new one)."""
        self.partials.mkdir(exist_ok=True)
        name = item.sha256 or "p-" + hashlib.sha256(
            f"{item.path}\0{item.stamp}".encode()).hexdigest()[:40]
        return self.partials / name

    def place(self, item: RunFile, partial: Path, target: Path) -> None:
        try:
            _make_parents(self.dest, target)
            if target.is_dir() and not target.is_symlink():
                raise UsageError(f"cannot pull {item.path}: {target} is a folder")
            os.chmod(partial, 0o644)
            if item.mtime:
                os.utime(partial, (item.mtime, item.mtime))
            os.replace(partial, target)
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None

    async def _fetch(self, files: list[RunFile]) -> None:
        writer = _Writer(self)
        wanted: list[tuple[RunFile, int]] = []
        for item in files:
            partial = await asyncio.to_thread(self.partial, item)
            offset = await asyncio.to_thread(_size_of, partial)
            if offset > item.size:                     # not a start of this content
                await asyncio.to_thread(partial.unlink)
                offset = 0
            if offset == item.size:                    # all here already (or empty)
                await asyncio.to_thread(partial.touch)
                await writer.whole(item)
            else:
                wanted.append((item, offset))
        try:
            async for index, chunk in self.executor.fetch_files(
                    self.run, self.run.handle, [(f.path, o) for f, o in wanted]):
                await writer.feed(wanted[index][0], chunk)
                self.result.content_bytes += len(chunk)
            await writer.finish()
        finally:
            await writer.close()
        if writer.unverified:
            await self._check_unchanged(writer.unverified)
        done = {item["path"] for item in self.result.files}
        for item in files:
            if item.path not in done and item.path not in writer.failed:
                self.result.problems.append(f"{item.path}: gone or cut short on the target "
                                            "before it could be pulled")

    async def _check_unchanged(self, unverified: dict[str, tuple[RunFile, str]]) -> None:
        """Files fetched without a sha256 from the target: put in place if the target still
        shows them as listed (they did not change while they were sent)."""
        listing = await self.executor.list_files(self.run, self.run.handle)
        now = {f.path: f.stamp for f in listing.files}
        for path, (item, digest) in unverified.items():
            partial = self.partial(item)
            if now.get(path) != item.stamp:
                await asyncio.to_thread(partial.unlink, missing_ok=True)
                self.result.problems.append(
                    f"{path}: changed while it was pulled (pull again for the new content)")
                continue
            await asyncio.to_thread(self.place, item, partial, target_path(self.dest, path))
            self._done(item, "fetched", digest)
            self.learned[path] = digest


class _Writer:
    """Appends fetched chunks to partial files, one file at a time, hashing as they come; a
    file whose last chunk came is checked and put in place (or left for the stamp check)."""

    def __init__(self, puller: Puller):
        self.puller = puller
        self.item: RunFile | None = None
        self.handle: BinaryIO | None = None
        self.hasher: hashlib._Hash | None = None
        self.unverified: dict[str, tuple[RunFile, str]] = {}   # path -> (item, sha256)
        self.failed: set[str] = set()

    async def feed(self, item: RunFile, chunk: bytes) -> None:
        if self.item is not item:
            await self._finish()
            self.item = item
            self.handle, self.hasher = await asyncio.to_thread(self._open, item)
        await asyncio.to_thread(self._write, chunk)

    def _open(self, item: RunFile) -> tuple[BinaryIO, hashlib._Hash]:
        partial = self.puller.partial(item)
        hasher = hashlib.sha256()
        try:
            with open(partial, "rb") as earlier:            # what an interrupted pull left
                while block := earlier.read(CHUNK):
                    hasher.update(block)
        except FileNotFoundError:
            pass                                            # nothing yet: a fresh start
        return open(partial, "ab"), hasher

    def _write(self, chunk: bytes) -> None:
        assert self.handle is not None and self.hasher is not None    # opened by feed()
        self.handle.write(chunk)
        self.hasher.update(chunk)

    async def finish(self) -> None:
        """The stream ended: the last file is complete (or cut short)."""
        await self._finish()

    async def whole(self, item: RunFile) -> None:
        """A file whose partial already holds all of it: checked as if it just arrived."""
        self.item = item
        self.handle, self.hasher = await asyncio.to_thread(self._open, item)
        await self._finish()

    async def _finish(self) -> None:
        item, handle, hasher = self.item, self.handle, self.hasher
        self.item, self.handle, self.hasher = None, None, None
        if item is None or handle is None or hasher is None:
            return
        size = await asyncio.to_thread(_close_and_tell, handle)
        if size < item.size:
            return                                  # cut off: the next pull goes on from here
        digest = hasher.hexdigest()
        partial = self.puller.partial(item)
        if size != item.size or (item.sha256 is not None and digest != item.sha256):
            await asyncio.to_thread(partial.unlink)
            self.failed.add(item.path)
            self.puller.result.problems.append(
                f"{item.path}: changed while it was pulled (pull again for the new content)")
            return
        if item.sha256 is None:
            self.unverified[item.path] = (item, digest)
            return
        target = target_path(self.puller.dest, item.path)
        await asyncio.to_thread(self.puller.place, item, partial, target)
        self.puller._done(item, "fetched", digest)

    async def close(self) -> None:
        if self.handle is not None:
            await asyncio.to_thread(self.handle.close)
            self.handle = None
        self.item = None


def _close_and_tell(handle: BinaryIO) -> int:
    size = handle.tell()
    handle.close()
    return size


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        return          # not empty (a partial file for the next pull), or not there
