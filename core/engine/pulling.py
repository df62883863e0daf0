"""Pulling a run's files to this machine: only what is missing travels, and a cut resumes.

For each file (its sha256 known from the listing, hashed where it is):
1. a file at the destination with that content is left alone (known from the record of
   the last pull, or hashed here): a second pull of unchanged files sends 0 bytes;
2. else content this machine already has (the store's blobs: the snapshot's files; a file
   of the same pull with the same content) is copied here, nothing travels;
3. else its bytes are fetched from the target into `DEST/.runyard-partial/<sha256>`,
   starting at what an earlier, interrupted pull left there, checked against the sha256
   and renamed into place with the file's own mtime.
A target that stops answering raises its ExecutorError (exit 5): the files already in
place stay, and so does the partial file, for the next pull to go on from.

Paths come from the run, so they are untrusted: each must stay under DEST (no `..`, no
absolute path) and no folder on the way may be a symlink.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from core.engine.filelist import RunFile
from core.errors import StoreError, UsageError
from core.executors.base import Executor
from core.executors.folder_files import hash_file
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
        self.copies: dict[str, list[tuple[Path, int, int]]] = {}   # sha -> earlier pulled copies

    def know_copies(self, copies: list[tuple[Path, int, int, str]]) -> None:
        """Files earlier pulls wrote elsewhere: a source when they are still as written."""
        for path, size, mtime_ns, sha in copies:
            self.copies.setdefault(sha, []).append((path, size, mtime_ns))

    def _earlier_copy(self, sha: str) -> Path | None:
        for path, size, mtime_ns in self.copies.get(sha, []):
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns) == (size, mtime_ns):
                return path
        return None

    async def pull(self, files: list[RunFile]) -> PullResult:
        try:
            await asyncio.to_thread(self.dest.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.dest}: {exc.strerror or exc}") from None
        fetch: list[RunFile] = []
        have: dict[str, Path] = {}                     # sha -> a local file with it
        for item in files:
            if item.sha256 is None:
                self.result.problems.append(f"{item.path}: gone before it could be hashed")
                continue
            target = target_path(self.dest, item.path)
            how = await asyncio.to_thread(self._local, item, target, have)
            if how is None:
                fetch.append(item)
            else:
                self._done(item, how)
        if fetch:
            await self._fetch(fetch, have)
        await asyncio.to_thread(_remove_if_empty, self.partials)
        return self.result

    def _done(self, item: RunFile, how: str) -> None:
        self.result.files.append({"path": item.path, "size": item.size, "sha256": item.sha256,
                                  "how": how})

    def _local(self, item: RunFile, target: Path, have: dict[str, Path]) -> str | None:
        """Make the file right from what is here: "unchanged", "copied", or None (fetch)."""
        if self._up_to_date(item, target):
            have.setdefault(item.sha256, target)
            return "unchanged"
        source = have.get(item.sha256) or self._earlier_copy(item.sha256)
        if source is None and self.blobs.has(item.sha256):
            source = self.blobs.path(item.sha256)
        if source is None:
            return None
        partial = self._partial(item)
        try:
            shutil.copyfile(source, partial)
        except OSError as exc:
            raise StoreError(f"cannot write {partial}: {exc.strerror or exc}") from None
        self._place(item, partial, target)
        have.setdefault(item.sha256, target)
        return "copied"

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

    def _partial(self, item: RunFile) -> Path:
        self.partials.mkdir(exist_ok=True)
        return self.partials / item.sha256

    def _place(self, item: RunFile, partial: Path, target: Path) -> None:
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

    async def _fetch(self, files: list[RunFile], have: dict[str, Path]) -> None:
        await asyncio.to_thread(self.partials.mkdir, exist_ok=True)
        offsets = [await asyncio.to_thread(_size_of, self._partial(f)) for f in files]
        for i, item in enumerate(files):
            if offsets[i] > item.size:                  # not a start of this content
                await asyncio.to_thread(self._partial(item).unlink)
                offsets[i] = 0
        wanted = [(f.path, offset) for f, offset in zip(files, offsets)]
        writer = _Writer(self)
        try:
            async for index, chunk in self.executor.fetch_files(self.run, self.run.handle,
                                                                wanted):
                await writer.feed(files[index], index, chunk)
                self.result.content_bytes += len(chunk)
            await writer.finish()
        finally:
            await writer.close()
        for item in files:
            if item.path in writer.finished:
                have.setdefault(item.sha256, target_path(self.dest, item.path))
            elif item.path not in writer.failed:
                self.result.problems.append(f"{item.path}: gone or cut short on the target "
                                            "before it could be pulled")


class _Writer:
    """Appends fetched chunks to partial files, one file at a time; a file whose last
    chunk came is checked and put in place."""

    def __init__(self, puller: Puller):
        self.puller = puller
        self.item: RunFile | None = None
        self.handle = None
        self.finished: set[str] = set()
        self.failed: set[str] = set()

    async def feed(self, item: RunFile, index: int, chunk: bytes) -> None:
        if self.item is not item:
            await self._finish()
            self.item = item
            self.handle = await asyncio.to_thread(open, self.puller._partial(item), "ab")
        await asyncio.to_thread(self.handle.write, chunk)

    async def finish(self) -> None:
        """The stream ended: check the last file and put it in place."""
        await self._finish()

    async def _finish(self) -> None:
        item, handle = self.item, self.handle
        self.item = self.handle = None
        if item is None or handle is None:
            return
        await asyncio.to_thread(handle.close)
        partial = self.puller._partial(item)
        size = await asyncio.to_thread(_size_of, partial)
        if size < item.size:
            return                                  # cut off: the next pull goes on from here
        digest = await asyncio.to_thread(hash_file, partial)
        if size != item.size or digest != item.sha256:
            await asyncio.to_thread(partial.unlink)
            self.failed.add(item.path)
            self.puller.result.problems.append(
                f"{item.path}: changed while it was pulled (pull again for the new content)")
            return
        target = target_path(self.puller.dest, item.path)
        await asyncio.to_thread(self.puller._place, item, partial, target)
        self.finished.add(item.path)
        self.puller._done(item, "fetched")

    async def close(self) -> None:
        if self.handle is not None:
            await asyncio.to_thread(self.handle.close)
            self.handle = None
        self.item = None


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        return          # not empty (a partial file for the next pull), or not there


def missing_after(files: list[RunFile], result: PullResult) -> list[str]:
    """Paths asked for that did not arrive (gone, changed, or cut off)."""
    arrived = {item["path"] for item in result.files}
    return [f.path for f in files if f.path not in arrived]

