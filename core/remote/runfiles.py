"""A run's files on a box: listed and hashed there, sent from an offset, checkpoints staged.

Shared by every executor whose runs live in a box's run folder (the ssh target, a slurm
target submitting on a login node). One round trip lists the code folder (`find` and
`stat`), one hashes the files asked about (sha256sum, on the box: no content travels to
compare), and one streams the wanted files from their offsets, framed by length and a
token per reply, read as it arrives (a 10 GB checkpoint never sits in memory).

Staging a checkpoint on a box reuses code transfer (core.remote.transfer): the files are
described as a snapshot manifest, so the box's blob store receives only the blobs it
lacks, once per box, and lays them out as hard links under `snapshots/<manifest id>/`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import tarfile
from pathlib import Path
from typing import AsyncIterator

from core.models import FileStat, Listing
from core.remote import file_scripts, tar_stream
from core.remote.box import Box
from core.remote.failures import BoxError
from core.remote.transfer import send_snapshot
from core.store.blobs import BlobStore

log = logging.getLogger("runyard.remote")


def _gone(box: Box, work: str, run_dir: str) -> BoxError:
    return BoxError(f"{box.label}: the run's folder {work}/{run_dir} is not there "
                    "(it was removed, or the box's work folder was reset)", target=box.label)


async def list_files(box: Box, run_dir: str) -> Listing:
    facts = await box.ready()
    reply = await box.script(file_scripts.list_files(facts.work, run_dir),
                             what="listing a run's files", timeout=_slow(box))
    lines = reply.stdout.split(b"\n")
    if b"GONE" in lines:
        raise _gone(box, facts.work, run_dir)
    if b"END" not in lines:
        raise BoxError(f"{box.label}: listing the run's files failed: {reply.error_text()}",
                       target=box.label)
    files: list[FileStat] = []
    now, odd = 0.0, 0
    for raw in lines:
        if raw.startswith(b"NOW "):
            now = float(raw[4:] or 0)
        elif raw.startswith(b"ODD "):
            odd += int(raw[4:].strip() or 0)
        elif raw.startswith(b"F "):
            fields = raw.split(b" ", 5)
            try:
                path = fields[5].decode("utf-8")
                size, mtime = int(fields[1]), float(fields[2])
            except (IndexError, ValueError, UnicodeDecodeError):
                odd += 1                       # a name that is not UTF-8
                continue
            path = path[2:] if path.startswith("./") else path
            stamp = f"{size}:{fields[2].decode()}:{fields[3].decode()}:{fields[4].decode()}"
            files.append(FileStat(path, size, mtime, stamp))
    files.sort(key=lambda f: f.path)
    return Listing(files, now, odd)


async def hash_files(box: Box, run_dir: str, paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    facts = await box.ready()
    reply = await box.script(file_scripts.hash_files(facts.work, run_dir, paths),
                             what="hashing a run's files", timeout=_slow(box, len(paths)))
    text = reply.stdout.decode("utf-8", "replace")
    lines = text.split("\n")
    if "GONE" in lines:
        raise _gone(box, facts.work, run_dir)
    if "NOSHA" in lines:          # files are then fetched and checked by their stamps
        log.warning("%s has no sha256sum: its files are compared by fetching them", box.label)
        return {}
    wanted = set(paths)
    out = {}
    for line in lines:
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        if len(body) < 67 or body[64] != " ":
            continue
        name = body[66:]
        if escaped:                                     # GNU escapes \\ and \n in names
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        if name in wanted:
            out[name] = body[:64]
    return out


async def fetch_files(box: Box, run_dir: str,
                      wanted: list[tuple[str, int]]) -> AsyncIterator[tuple[int, bytes]]:
    """(index, chunk) of each wanted file from its offset, as the box sends them: whole
    files as one tar when the box has tar (one process for them all), files from an offset
    (a pull that was cut off) with tail, framed."""
    facts = await box.ready()
    token = secrets.token_hex(8)
    whole = {path: i for i, (path, offset) in enumerate(wanted) if offset == 0 and facts.has_tar}
    if whole:
        stream = box.receive(file_scripts.send_tar(facts.work, run_dir, list(whole), token),
                             what="sending a run's files")
        try:
            async for name, _mtime, block in tar_stream.files_in(stream):
                index = whole.get(name[2:] if name.startswith("./") else name)
                if index is not None:
                    yield index, block
        except tarfile.TarError as exc:
            raise BoxError(f"{box.label}: the tar of the run's files is unreadable: {exc}",
                           target=box.label) from None
    sent = set(whole.values())
    rest = [(i, item) for i, item in enumerate(wanted) if i not in sent]
    if not rest:
        return
    reader = _Frames(token)
    stream = box.receive(file_scripts.send_files(facts.work, run_dir, [w for _, w in rest],
                                                 token), what="sending a run's files")
    async for data in stream:
        for index, chunk in reader.feed(data):
            yield rest[index][0], chunk
    if not reader.ended:
        raise BoxError(f"{box.label}: the reply sending the run's files ended early",
                       target=box.label)


class _Frames:
    """Reads `F i LENGTH\\n` + bytes + `\\nE<token>\\n` frames, `G i` and `END <token>`."""

    def __init__(self, token: str):
        self.marker = f"\nE{token}\n".encode()
        self.end = f"END {token}".encode()
        self.buffer = bytearray()
        self.index = -1
        self.left = 0               # bytes of the current file still to come
        self.trailer = 0            # bytes of the marker still to check
        self.ended = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        out: list[tuple[int, bytes]] = []
        while self.buffer and not self.ended:
            if self.left:
                take = bytes(self.buffer[:self.left])
                del self.buffer[:len(take)]
                self.left -= len(take)
                out.append((self.index, take))
                if not self.left:
                    self.trailer = len(self.marker)
                continue
            if self.trailer:
                if len(self.buffer) < self.trailer:
                    break
                if bytes(self.buffer[:self.trailer]) != self.marker:
                    raise BoxError("the box's reply is torn (a file's end marker is missing)")
                del self.buffer[:self.trailer]
                self.trailer = 0
                continue
            newline = self.buffer.find(b"\n")
            if newline < 0:
                break
            line = bytes(self.buffer[:newline])
            del self.buffer[:newline + 1]
            fields = line.split(b" ")
            if line == self.end:
                self.ended = True
            elif fields[0] == b"F" and len(fields) == 3:
                self.index, self.left = int(fields[1]), int(fields[2])
                if not self.left:
                    self.trailer = len(self.marker)
            # `G i` (gone) and lines a login shell printed carry nothing to keep
        return out


async def stage_files(box: Box, folder: Path, files: dict[str, str], blobs: BlobStore) -> str:
    """Lay `files` (paths under `folder` here -> sha256) out on the box, sending the blobs
    it lacks; the folder's path there."""
    facts = await box.ready()
    for path, sha in files.items():
        if not blobs.has(sha):
            await asyncio.to_thread(blobs.put_file, folder / path)
    entries = [[path, "f", (folder / path).stat().st_size, files[path]] for path in sorted(files)]
    manifest = json.dumps({"v": 1, "files": entries}, separators=(",", ":")).encode()
    layout = await asyncio.to_thread(blobs.put_bytes, manifest)
    await send_snapshot(box, layout, blobs)
    return f"{facts.work}/snapshots/{layout}"


def location(handle: dict) -> str:
    """Where a run on a box keeps its files: the box and its work folder."""
    return f"box {handle.get('box')} {handle.get('work')}"


def address(handle: dict, path: str) -> str:
    """A run file's absolute path on its box."""
    return f"{handle.get('work')}/{handle.get('run_dir')}/code/{path}"


def _slow(box: Box, files: int = 0) -> float:
    """A time limit for work that grows with a run's files (10,000 files hash in seconds)."""
    return max(box.settings.command_timeout, 60.0 + files / 20)
