"""Code transfer: the box keeps its own content-addressed blob store; only missing blobs travel.

Sending a snapshot to a box takes one round trip to learn which blobs it lacks (blobs this
engine already saw there are not asked about), then one stream: a tar (gzipped when the box
has gzip) holding the missing blobs and the snapshot's layout as hard links into the
box's blob store (`snapshots/<id>/`, built in a temporary folder and renamed when whole).
Each run then gets its private copy with one `cp -R` (see scripts.launch). A box without
tar gets a plain framed stream and one `ln` per file instead (slower, same result).
A snapshot this engine knows to be laid out on the box costs nothing more: the launch
script copies it (and says NEED if it has vanished, which sends it again).
"""

from __future__ import annotations

import asyncio
import io
import queue
import secrets
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import AsyncIterator

from core.store.blobs import BlobStore
from core.remote import scripts
from core.remote.box import Box
from core.remote.failures import BoxError
from core.store.snapshot import manifest

CHUNK = 256 * 1024
GZIP_LEVEL = 1          # fast; code and text shrink 2-4x, tar headers far more


@dataclass(frozen=True)
class TransferStats:
    files: int
    blobs: int                 # distinct contents in the snapshot
    blobs_sent: int
    content_bytes_sent: int    # bytes of file content sent
    stream_bytes: int          # bytes written to the box for this transfer, all included
    seconds: float


def blob_name(digest: str) -> str:
    return f"{digest[:2]}/{digest[2:]}"


async def send_snapshot(box: Box, snapshot_id: str, blobs: BlobStore) -> TransferStats:
    """Make the snapshot's layout exist on the box, sending only what it lacks."""
    lock = box.locks.setdefault(snapshot_id, asyncio.Lock())
    async with lock:
        started = time.monotonic()
        sent_before = box.bytes_sent
        entries = await asyncio.to_thread(manifest, snapshot_id, blobs)
        sizes = {blob_name(e[3]): e[2] for e in entries if e[1] in ("f", "x")}
        try:
            missing = await _send(box, snapshot_id, entries, sizes, blobs, trust_cache=True)
        except BoxError as exc:
            if not exc.cache_was_used:
                raise
            # The box lost blobs this engine thought it had: ask about every one.
            box.known_blobs.clear()
            box.known_snapshots.clear()
            missing = await _send(box, snapshot_id, entries, sizes, blobs, trust_cache=False)
        box.known_blobs.update(sizes)
        box.known_snapshots.add(snapshot_id)
        return TransferStats(files=len(entries), blobs=len(sizes), blobs_sent=len(missing),
                             content_bytes_sent=sum(sizes[n] for n in missing),
                             stream_bytes=box.bytes_sent - sent_before,
                             seconds=time.monotonic() - started)


async def _send(box: Box, snapshot_id: str, entries: list, sizes: dict, blobs: BlobStore,
                trust_cache: bool) -> list[str]:
    """One question (which blobs are missing), then one stream; returns the blobs sent."""
    facts = await box.ready()
    unknown = sorted(n for n in sizes if not (trust_cache and n in box.known_blobs))
    reply = await box.script(scripts.missing_blobs(facts.work, snapshot_id, unknown),
                             what="asking which code files the box lacks")
    lines = reply.text().splitlines()
    if "READY" in lines:
        return []
    missing = [n for n in lines if n in sizes]
    _check_space(box, lines, sum(sizes[n] for n in missing))
    nonce = secrets.token_hex(8)
    try:
        if facts.has_tar:
            await _send_tar(box, snapshot_id, nonce, entries, missing, blobs)
        else:
            await _send_plain(box, snapshot_id, nonce, entries, missing, blobs)
    except BoxError as exc:
        exc.cache_was_used = len(unknown) < len(sizes) and "no space" not in exc.message
        raise
    return missing


def _check_space(box: Box, lines: list[str], need: int) -> None:
    free_line = next((line for line in lines if line.startswith("FREE ")), "")
    fields = free_line.split()
    if len(fields) >= 5 and fields[4].isdigit() and need > int(fields[4]) * 1024:
        raise _no_space(box, need, int(fields[4]) * 1024)


def _no_space(box: Box, need: int, free: int | None) -> BoxError:
    have = f", {free / 1e6:.1f} MB free" if free is not None else ""
    return BoxError(f"{box.label}: no space left in the work folder {box.reached.work} "
                    f"(the code needs {need / 1e6:.1f} MB{have})", target=box.label,
                    hint="free space on the box, or point work_dir at a bigger disk")


def _failed(box: Box, what: str, result, need: int) -> BoxError:
    error = result.error_text()
    if "No space left" in error or "Disk quota exceeded" in error:
        return _no_space(box, need, None)
    return BoxError(f"{box.label}: {what} failed (exit {result.returncode}): "
                    f"{error or 'no message'}", target=box.label)


async def _send_tar(box: Box, snapshot_id: str, nonce: str, entries: list, missing: list[str],
                    blobs: BlobStore) -> None:
    facts = box.reached
    command = (f"sh {scripts.quote(facts.work + '/bin/' + facts.helper)} "
               f"{scripts.quote(facts.work)} receive-tar {nonce} {snapshot_id}"
               f"{' gz' if facts.has_gzip else ''}")
    produce = _TarProducer(snapshot_id, nonce, entries, missing, blobs, facts.has_gzip)
    result = await box.send(command, produce.chunks(), what="sending code")
    if result.returncode != 0:
        need = sum(blobs.path(n.replace("/", "")).stat().st_size for n in missing)
        raise _failed(box, "receiving the code", result, need)


async def _send_plain(box: Box, snapshot_id: str, nonce: str, entries: list,
                      missing: list[str], blobs: BlobStore) -> None:
    facts = box.reached

    async def frames() -> AsyncIterator[bytes]:
        for name in missing:
            data = await asyncio.to_thread(blobs.read, name.replace("/", ""))
            yield f"{name} {len(data)}\n".encode() + data
        yield b"END 0\n"

    if missing:
        command = (f"sh {scripts.quote(facts.work + '/bin/' + facts.helper)} "
                   f"{scripts.quote(facts.work)} receive-plain {nonce}")
        result = await box.send(command, frames(), what="sending code")
        if result.returncode != 0:
            need = sum(blobs.path(n.replace("/", "")).stat().st_size for n in missing)
            raise _failed(box, "receiving the code", result, need)
    dirs = sorted({str(PurePosixPath(e[0]).parent) for e in entries} - {"."})
    links = [(e[0], blob_name(e[3])) for e in entries if e[1] in ("f", "x")]
    symlinks = [(e[0], e[3]) for e in entries if e[1] == "l"]
    result = await box.script(scripts.link_tree(facts.work, snapshot_id, nonce, dirs, links,
                                                symlinks),
                              what="laying out the code", timeout=max(60.0, len(links) / 50))
    if result.returncode != 0:
        raise _failed(box, "laying out the code", result, 0)


class _TarProducer:
    """Builds the tar in a thread (file reads, tarfile) and hands it over in chunks."""

    def __init__(self, snapshot_id: str, nonce: str, entries: list, missing: list[str],
                 blobs: BlobStore, gzip: bool = False):
        self.snapshot_id, self.nonce, self.gzip = snapshot_id, nonce, gzip
        self.entries, self.missing, self.blobs = entries, missing, blobs
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.stop = threading.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        thread = threading.Thread(target=self._run, name="tar-producer", daemon=True)
        thread.start()
        try:
            while True:
                item = await asyncio.to_thread(self.queue.get)
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop.set()
            while thread.is_alive():
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.01)

    def _put(self, item) -> bool:
        """Hand over one item; False when the consumer has gone away."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        writer = _ChunkWriter(self._put, self.gzip)
        try:
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.GNU_FORMAT) as tar:
                self._members(tar)
            writer.flush_all()
            self._put(None)
        except _Stopped:
            return
        except OSError as exc:            # a blob vanished or cannot be read: tell the consumer
            self._put(exc)

    def _members(self, tar: tarfile.TarFile) -> None:
        listing = ("\n".join(self.missing) + "\n").encode() if self.missing else b""
        _add_bytes(tar, f"incoming/{self.nonce}.list", listing, 0o644)
        for name in self.missing:
            path = self.blobs.path(name.replace("/", ""))
            info = tarfile.TarInfo(f"blobs/{name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o444, int(time.time())
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
        tree = f"snapshots/tmp-{self.nonce}"
        folders = {tree}
        for name, _kind, _size, _ref in self.entries:
            parent = PurePosixPath(name).parent
            while str(parent) != ".":
                folders.add(f"{tree}/{parent}")
                parent = parent.parent
        for folder in sorted(folders):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(info)
        for name, kind, _size, ref in self.entries:
            info = tarfile.TarInfo(f"{tree}/{name}")
            info.mtime = int(time.time())
            if kind == "l":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, ref, 0o777
            else:
                info.type, info.linkname = tarfile.LNKTYPE, f"blobs/{blob_name(ref)}"
            tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


class _Stopped(Exception):
    """The consumer went away (the box failed or the connection dropped)."""


class _ChunkWriter(io.BufferedIOBase):
    """A binary file (write only) that hands out CHUNK-sized pieces, gzipped (level 1) if
    asked: what tarfile writes a stream to."""

    def __init__(self, put, gzip: bool = False):
        super().__init__()
        self.put = put
        self.buffer = bytearray()
        self.compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if gzip else None

    def write(self, data) -> int:                 # bytes, or any buffer tarfile hands over
        self.buffer += self.compressor.compress(data) if self.compressor else data
        while len(self.buffer) >= CHUNK:
            if not self.put(bytes(self.buffer[:CHUNK])):
                raise _Stopped()
            del self.buffer[:CHUNK]
        return len(data)

    def flush_all(self) -> None:
        if self.compressor is not None:
            self.buffer += self.compressor.flush()
        if self.buffer and not self.put(bytes(self.buffer)):
            raise _Stopped()
        self.buffer.clear()
