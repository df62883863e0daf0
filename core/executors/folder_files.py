"""A run's files in a folder on this machine: listing, hashing and reading them from an offset.

The defaults of `Executor`'s file capabilities for every kind whose run folders are here
(local, Docker with a local engine, Slurm submitting from this machine), and what a remote
kind's executor uses once it has a copy here. Only regular files are listed: a symlink
the run made (to /etc/shadow, say) is neither listed nor read. A name with a newline, or
that is not valid UTF-8, is counted in `Listing.unlisted` instead of being listed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import AsyncIterator, Callable

from core.models import FileStat, Listing

CHUNK = 1024 * 1024


def list_folder(code: Path) -> Listing:
    """Every regular file under `code` (an absent folder has none, nor one the run replaced
    by a symlink: from its run folder, which it can write, it could point that anywhere)."""
    files: list[FileStat] = []
    unlisted = 0
    now = time.time()
    root = os.fspath(code)
    if os.path.islink(root):
        return Listing(files, now, unlisted)
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        dirs.sort()
        for name in sorted(names):
            path = prefix + name
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue                              # gone meanwhile, or unreadable
            if not stat.S_ISREG(info.st_mode):
                continue
            if not usable_name(path):
                unlisted += 1
                continue
            files.append(FileStat(path, info.st_size, info.st_mtime, stamp_of(info)))
    return Listing(files, now, unlisted)


def usable_name(path: str) -> bool:
    """Whether a path can be listed, sent and shown: valid UTF-8, no newline."""
    if "\n" in path:
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:                        # surrogates: the bytes were not UTF-8
        return False
    return True


def stamp_of(info: os.stat_result) -> str:
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}"


def hash_file(path: Path) -> str:
    """sha256 of a regular file; OSError for anything else (a FIFO the run swapped in since
    it was looked at would block a plain open() forever)."""
    digest = hashlib.sha256()
    with _open_regular(path) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Where a listed path's bytes are, when not at `code / path` (None: nowhere to read).
Locate = Callable[[str], "Path | None"]


def hash_paths(code: Path, paths: list[str], locate: Locate | None = None) -> dict[str, str]:
    """sha256 of each file that is still there (and still a regular file)."""
    out: dict[str, str] = {}
    if os.path.islink(code):
        return out                  # the run replaced its code folder by a symlink
    for path in paths:
        full = locate(path) if locate else code / path
        if full is None:
            continue
        try:
            if not stat.S_ISREG(os.lstat(full).st_mode):
                continue
            out[path] = hash_file(full)
        except OSError:
            continue
    return out


async def read_files(code: Path, wanted: list[tuple[str, int]],
                     locate: Locate | None = None) -> AsyncIterator[tuple[int, bytes]]:
    """The bytes of each wanted file from its offset, as (index, chunk), in order."""
    if os.path.islink(code):
        return                      # the run replaced its code folder by a symlink
    for index, (path, offset) in enumerate(wanted):
        full = locate(path) if locate else code / path
        if full is None:
            continue
        try:
            handle = await asyncio.to_thread(_open_regular, full)
        except OSError:
            continue                                  # gone: the caller sees no bytes for it
        try:
            await asyncio.to_thread(handle.seek, offset)
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield index, chunk
        finally:
            handle.close()


def _open_regular(path: Path):
    """Open a file for reading, refusing a symlink or anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")
