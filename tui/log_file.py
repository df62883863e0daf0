"""Reading a run's log by byte offset: a window of lines at a time, never the whole file.

A 1 GB log opens as fast as a 1 KB one: the view asks for the lines before the end (or
after some offset) and only those bytes are read, through a small cache of 64 KiB blocks.
A line longer than MAX_SPAN (no newline for a megabyte) is cut into pieces of that size,
and only DISPLAY_BYTES of a line are ever decoded for display. The file is append-only,
so cached blocks stay true; only the block holding the old end is dropped as it grows.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import BinaryIO

BLOCK = 64 * 1024
CACHE_BLOCKS = 64                # at most 4 MiB cached per open log
MAX_SPAN = 1024 * 1024           # a longer line is shown in pieces of this size
DISPLAY_BYTES = 16 * 1024        # bytes of one line decoded for display
SEARCH_CHUNK = 4 * 1024 * 1024

Span = tuple[int, int]           # [start, end) of one line's bytes, without its newline


class LogFile:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle: BinaryIO | None = None
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._size = 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._blocks.clear()

    # ------------------------------------------------------------ size and bytes

    def size(self) -> int:
        """The file's current size; cached blocks past the old end are forgotten."""
        try:
            size = os.stat(self.path).st_size
        except OSError:
            size = 0
        if size < self._size:                        # truncated or replaced: start over
            self.close()
        elif size != self._size:
            self._blocks.pop(self._size // BLOCK, None)
        self._size = size
        return size

    def read(self, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        end = min(start + length, self._size)
        parts = []
        for index in range(start // BLOCK, (end - 1) // BLOCK + 1):
            block = self._block(index)
            lo = max(start - index * BLOCK, 0)
            hi = min(end - index * BLOCK, len(block))
            parts.append(block[lo:hi])
        return b"".join(parts)

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is not None:
            self._blocks.move_to_end(index)
            return block
        if self._handle is None:
            try:
                self._handle = open(self.path, "rb")
            except OSError:
                return b""
        self._handle.seek(index * BLOCK)
        block = self._handle.read(BLOCK)
        if len(block) == BLOCK:                      # a partial last block is not kept
            self._blocks[index] = block
            if len(self._blocks) > CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        return block

    def _find(self, start: int, limit: int) -> int:
        """The offset of the first newline in [start, limit), or -1."""
        pos = start
        while pos < limit:
            index = pos // BLOCK
            block = self._block(index)
            if not block:
                return -1
            lo = pos - index * BLOCK
            hi = min(len(block), limit - index * BLOCK)
            found = block.find(b"\n", lo, hi)
            if found != -1:
                return index * BLOCK + found
            pos = index * BLOCK + hi
            if hi < BLOCK and hi == len(block):
                return -1
        return -1

    def _rfind(self, end: int, limit: int) -> int:
        """The offset of the last newline in [limit, end), or -1."""
        pos = end
        while pos > limit:
            index = (pos - 1) // BLOCK
            block = self._block(index)
            lo = max(limit - index * BLOCK, 0)
            found = block.rfind(b"\n", lo, pos - index * BLOCK)
            if found != -1:
                return index * BLOCK + found
            pos = index * BLOCK
        return -1

    def read_through(self, start: int, limit: int) -> bytes:
        """Up to `limit` bytes from `start`, up to the current end, read straight from the
        file, not kept: for a reader that goes through a log once (`tui logs`)."""
        length = min(limit, self.size() - start)
        if length <= 0:
            return b""
        if self._handle is None:
            try:
                self._handle = open(self.path, "rb")
            except OSError:
                return b""
        self._handle.seek(start)
        return self._handle.read(length)

    # ------------------------------------------------------------ lines

    def tail_start(self, lines: int) -> int:
        """Where the last `lines` lines begin. A final newline ends the last line, and a
        line counts once however long it is (`tui logs --tail 1` of a 10 MB line is all of
        it: lines are not cut at MAX_SPAN here)."""
        size = self.size()
        if lines <= 0:
            return size
        pos = size - 1 if size and self.read(size - 1, 1) == b"\n" else size
        for _ in range(lines):
            newline = self._rfind(pos, 0)
            if newline == -1:
                return 0
            pos = newline
        return pos + 1

    def spans_after(self, start: int, count: int) -> list[Span]:
        """Up to `count` lines, the first beginning at `start`."""
        out: list[Span] = []
        pos, size = start, self._size
        while len(out) < count and pos < size:
            newline = self._find(pos, min(size, pos + MAX_SPAN))
            if newline == -1:
                end = min(size, pos + MAX_SPAN)
                out.append((pos, end))
                pos = end
            else:
                out.append((pos, newline))
                pos = newline + 1
        return out

    def spans_before(self, end: int, count: int) -> list[Span]:
        """Up to `count` lines that end before `end` (a line start, or the file's size)."""
        out: list[Span] = []
        pos = end
        while len(out) < count and pos > 0:
            line_end = pos - 1 if self.read(pos - 1, 1) == b"\n" else pos
            floor = max(0, line_end - MAX_SPAN)
            newline = self._rfind(line_end, floor)
            start = newline + 1 if newline != -1 else floor
            out.append((start, line_end))
            pos = start
        out.reverse()
        return out

    def line_start(self, offset: int) -> int:
        """The start of the line holding byte `offset`."""
        newline = self._rfind(offset, max(0, offset - MAX_SPAN))
        return newline + 1 if newline != -1 else max(0, offset - MAX_SPAN)

    def display_bytes(self, span: Span) -> tuple[bytes, int]:
        """What to show of a line, and how many of its bytes are not shown.

        A long line shows its head, unless it is a progress bar (carriage returns), which
        shows its latest state, as a terminal would.
        """
        start, end = span
        length = end - start
        if length <= DISPLAY_BYTES:
            return self.read(start, length), 0
        tail = self.read(end - DISPLAY_BYTES, DISPLAY_BYTES)
        cut = tail.rstrip(b"\r").rfind(b"\r")
        if cut != -1:
            return tail[cut + 1:], length - (len(tail) - cut - 1)
        return self.read(start, DISPLAY_BYTES), length - DISPLAY_BYTES

    # ------------------------------------------------------------ search

    def search(self, needle: str, origin: int, backward: bool, cancelled=lambda: False) -> int:
        """The offset of the nearest match before (or after) `origin`, any case; -1 if none.

        Reads the file in chunks straight from disk (the block cache stays small). An ASCII
        needle is found with bytes.find on lowered chunks; any other with a bytes pattern
        that accepts each letter's UTF-8 in either case, so offsets stay byte offsets.
        """
        if not needle:
            return -1
        pattern, longest = _pattern(needle)
        overlap = longest - 1
        size = self.size()
        with open(self.path, "rb") as handle:
            if backward:
                hi = origin
                while hi > 0 and not cancelled():
                    lo = max(0, hi - SEARCH_CHUNK)
                    handle.seek(lo)
                    chunk = handle.read(min(size, hi + overlap) - lo)
                    found = _last_before(pattern, chunk, origin - lo)
                    if found != -1:
                        return lo + found
                    hi = lo
            else:
                lo = origin
                while lo < size and not cancelled():
                    handle.seek(lo)
                    found = _first(pattern, handle.read(SEARCH_CHUNK + overlap))
                    if found != -1:
                        return lo + found
                    lo += SEARCH_CHUNK
        return -1


def _pattern(needle: str) -> tuple[bytes | re.Pattern, int]:
    """What to look for, and the longest match in bytes. ASCII: the lowered bytes."""
    if needle.isascii():
        target = needle.lower().encode()
        return target, len(target)
    parts, longest = [], 0
    for char in needle:
        forms = sorted({f.encode("utf-8", "replace")
                        for f in (char, char.lower(), char.upper(), char.casefold())})
        longest += max(len(f) for f in forms)
        parts.append(b"(?:" + b"|".join(re.escape(f) for f in forms) + b")")
    return re.compile(b"".join(parts), re.IGNORECASE), longest


def _first(pattern: bytes | re.Pattern, chunk: bytes) -> int:
    if isinstance(pattern, bytes):
        return chunk.lower().find(pattern)
    match = pattern.search(chunk)
    return match.start() if match else -1


def _last_before(pattern: bytes | re.Pattern, chunk: bytes, limit: int) -> int:
    """The last match in `chunk` that starts before `limit` (overlapping matches count)."""
    if isinstance(pattern, bytes):
        return chunk.lower().rfind(pattern, 0, limit + len(pattern) - 1)
    last, position = -1, 0
    while (match := pattern.search(chunk, position)) is not None and match.start() < limit:
        last, position = match.start(), match.start() + 1
    return last
