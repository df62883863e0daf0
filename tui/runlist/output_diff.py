"""What differs between the outputs of two runs: the files each wrote, and small text diffs.

Files are compared by path, size and sha256 (hashed where they are, by the engine); for a
file both runs wrote differently, small text files (both at most MAX_TEXT bytes, no NUL
byte) are pulled here and diffed, at most MAX_DIFFS of them and MAX_LINES lines each.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from core.client import EngineClient
from core.errors import RunyardError
from core.paths import StorePaths
from core.requests import FilesRequest, PullRequest
from core.textsafe import clean_line

MAX_TEXT = 64 * 1024
MAX_DIFFS = 20
MAX_LINES = 400


@dataclass
class OutputChange:
    path: str
    status: str                     # only in A, only in B, differs, same
    sizes: tuple[int | None, int | None]
    lines: list[str] = field(default_factory=list)      # a unified diff, made plain
    note: str = ""


def compare(left: list[dict], right: list[dict]) -> list[OutputChange]:
    """The files either run wrote (new or changed in its working folder), side by side."""
    a = {f["path"]: f for f in left if f["status"] in ("new", "changed")}
    b = {f["path"]: f for f in right if f["status"] in ("new", "changed")}
    out = []
    for path in sorted(set(a) | set(b)):
        one, two = a.get(path), b.get(path)
        sizes = (one["size"] if one else None, two["size"] if two else None)
        if two is None:
            status = "only in A"
        elif one is None:
            status = "only in B"
        elif one["size"] == two["size"] and one["sha256"] and one["sha256"] == two["sha256"]:
            status = "same"
        else:
            status = "differs"
        out.append(OutputChange(path, status, sizes))
    return out


def small_text_pairs(changes: list[OutputChange]) -> list[OutputChange]:
    """The differing files small enough to diff as text (the first MAX_DIFFS)."""
    return [c for c in changes if c.status == "differs" and
            all(s is not None and s <= MAX_TEXT for s in c.sizes)][:MAX_DIFFS]


def diff_texts(change: OutputChange, copies: list[Path]) -> None:
    """Fill in `change.lines` from the two local copies of the file."""
    texts = []
    for copy in copies:
        data = copy.read_bytes()[:MAX_TEXT + 1]
        if b"\0" in data[:8192]:
            change.note = "binary files differ"
            return
        texts.append(data.decode("utf-8", "replace").splitlines(keepends=True))
    lines = list(difflib.unified_diff(texts[0], texts[1], f"A/{change.path}",
                                      f"B/{change.path}", n=2))[2:]
    if len(lines) > MAX_LINES:
        change.note = f"the first {MAX_LINES} lines of the diff"
        lines = lines[:MAX_LINES]
    change.lines = [clean_line(line.rstrip("\n"), keep_sgr=False) for line in lines]


def outputs_of(paths: StorePaths, left: int, right: int,
               start: bool = True) -> tuple[list[OutputChange], str]:
    """The outputs of two runs compared, asking the engine (blocking: run it in a thread;
    `start`: start an engine if none runs); or why they could not be (a box that is down)."""
    client = EngineClient(paths)
    try:
        listings = [client.request(FilesRequest(id=run_id, hashes=True), start=start)
                    for run_id in (left, right)]
        changes = compare(listings[0]["files"], listings[1]["files"])
        for change in small_text_pairs(changes):
            copies = [_pulled(client, run_id, change.path) for run_id in (left, right)]
            diff_texts(change, copies)
    except RunyardError as exc:
        return [], f"the outputs could not be compared: {exc.message}"
    stale = [item["stale"] for item in listings if item.get("stale")]
    return changes, (f"as last seen: {stale[0]}" if stale else "")


def _pulled(client: EngineClient, run_id: int, path: str) -> Path:
    """The run's file, pulled here (into runs/ID/out; nothing travels when it is there)."""
    reply = client.request(PullRequest(id=run_id, paths=[path]))
    return Path(reply["to"]) / path
