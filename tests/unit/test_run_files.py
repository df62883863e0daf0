"""The logic under tui files, tui pull and resuming, on plain data: comparing with a snapshot,
which hashes are trusted, which paths a pull refuses, patterns, the newest checkpoint, and
the framing of a box's reply."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from core.engine import filelist
from core.engine.filelist import FileIndex, Found, RunFile
from core.engine.pulling import Puller, target_path
from core.engine.resuming import Point, newest, parse
from core.engine.run_files import select, select_outputs
from core.errors import UsageError
from core.models import FileStat, Listing, Run, RunSpec, RunState
from core.paths import StorePaths
from core.remote.failures import BoxError
from core.remote.runfiles import _Frames
from core.requests import STORED_DEFAULT_POLICY
from core.store.blobs import BlobStore


def _run(workdir: str = "", checkpoints: str | None = None, outputs=()) -> Run:
    policy = STORED_DEFAULT_POLICY.replace(checkpoints=checkpoints, outputs=list(outputs))
    return Run(id=7, spec=RunSpec(command=["true"], template=["true"], params={},
                                  policy=policy),
               state=RunState.SUCCEEDED, snapshot=None, project="/p", workdir=workdir)


def _found(*items: tuple[str, str, float]) -> Found:
    return Found([RunFile(path, 1, mtime, status, None) for path, status, mtime in items], 0.0)


# ---------------------------------------------------------------- comparing with the snapshot

def test_new_changed_unchanged_and_deleted_are_told_apart_by_size_then_hash(tmp_path):
    index = FileIndex(tmp_path / "files.json")
    snapshot = {"same.py": (3, "aaa"), "edited.py": (3, "bbb"), "grown.py": (3, "ccc"),
                "gone.py": (3, "ddd")}
    listing = Listing([FileStat("same.py", 3, 1.0, "s1"), FileStat("edited.py", 3, 1.0, "s2"),
                       FileStat("grown.py", 9, 1.0, "s3"), FileStat("new.bin", 5, 1.0, "s4")],
                      now=100.0)
    index.remember(listing.files[0], "aaa", 100.0)
    index.remember(listing.files[1], "zzz", 100.0)
    found = filelist._compare(_run(checkpoints="ckpt"), listing, snapshot, index)
    assert {f.path: f.status for f in found.files} == {
        "same.py": "unchanged", "edited.py": "changed", "grown.py": "changed",
        "new.bin": "new", "gone.py": "deleted"}


def test_a_hash_is_trusted_only_for_the_same_stamp_and_a_file_not_modified_just_before(tmp_path):
    index = FileIndex(tmp_path / "files.json")
    old = FileStat("a", 1, 50.0, "stamp-1")
    index.remember(old, "h1", now=100.0)
    assert index.sha(old) == "h1"
    assert index.sha(FileStat("a", 1, 50.0, "stamp-2")) is None, "another stamp: hash again"
    racy = FileStat("b", 1, 99.5, "stamp-b")
    index.remember(racy, "h2", now=100.0)
    assert index.sha(racy) is None, "modified within 2 s of hashing: it may have changed again"


def test_the_index_keeps_the_last_listing_and_its_hashes_across_engines(tmp_path):
    index = FileIndex(tmp_path / "files.json")
    stat = FileStat("m.bin", 4, 1.0, "st")
    index.remember(stat, "h", now=10.0)
    index.save(Found([RunFile("m.bin", 4, 1.0, "new", "h", stamp="st")], 10.0, unlisted=2))
    again = FileIndex(tmp_path / "files.json")
    assert again.sha(stat) == "h"
    assert again.last.unlisted == 2 and again.last.files[0].path == "m.bin"


def test_the_checkpoint_folder_is_relative_to_the_working_folder():
    assert filelist.checkpoint_prefix(_run(checkpoints="ckpt")) == "ckpt/"
    assert filelist.checkpoint_prefix(_run("exp", "ckpt/")) == "exp/ckpt/"
    assert filelist.checkpoint_prefix(_run()) is None


# ---------------------------------------------------------------- choosing files

def test_patterns_select_like_snapshot_globs_and_each_must_match():
    found = _found(("a.csv", "new", 1), ("r/b.csv", "new", 1), ("r/m.pt", "changed", 1),
                   ("code.py", "unchanged", 1), ("old.txt", "deleted", 0))
    paths = lambda files: [f.path for f in files]           # noqa: E731
    assert paths(select(_run(), found, [], False)) == ["a.csv", "r/b.csv", "r/m.pt"]
    assert sorted(paths(select(_run(), found, [], True))) == ["a.csv", "code.py", "r/b.csv",
                                                             "r/m.pt"]
    assert paths(select(_run(), found, ["*.csv"], False)) == ["a.csv", "r/b.csv"]
    assert paths(select(_run(), found, ["r/"], False)) == ["r/b.csv", "r/m.pt"]
    assert paths(select(_run(), found, ["code.py"], False)) == ["code.py"]
    with pytest.raises(UsageError, match="no file of run 7 matches 'old.txt'"):
        select(_run(), found, ["old.txt"], False)


def test_declared_outputs_are_globs_in_the_working_folder():
    found = _found(("exp/results/a.csv", "new", 1), ("results/b.csv", "new", 1),
                   ("exp/deep/results/c.csv", "new", 1))
    chosen, missing = select_outputs(_run("exp"), found, ["results/*.csv", "*.pt"])
    assert [f.path for f in chosen] == ["exp/results/a.csv"] and missing == ["*.pt"]
    chosen, _ = select_outputs(_run("exp"), found, ["*.csv"])
    assert [f.path for f in chosen] == ["exp/deep/results/c.csv", "exp/results/a.csv"]


# ---------------------------------------------------------------- pulling safely

@pytest.mark.parametrize("hostile", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a",
                                     "", "a/\0b"])
def test_a_pull_refuses_a_path_that_would_leave_its_folder(tmp_path, hostile):
    with pytest.raises(UsageError, match="not a plain relative path"):
        target_path(tmp_path, hostile)


def test_a_pull_never_writes_through_a_symlink_the_destination_has(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "results").symlink_to(outside)
    data = b"x,y\n"
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(data)
    item = RunFile("results/a.csv", len(data), 1.0, "new", digest)
    puller = Puller(executor=None, run=_run(), blobs=blobs, dest=dest, recorded={})
    with pytest.raises(UsageError, match="not a folder"):
        asyncio.run(puller.pull([item]))
    assert list(outside.iterdir()) == []


def test_content_this_machine_has_is_copied_not_fetched(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"same bytes")
    item = RunFile("deep/x.txt", 10, 1_600_000_000.0, "unchanged", digest)
    result = asyncio.run(Puller(None, _run(), blobs, tmp_path / "d", {}).pull([item]))
    assert result.counts() == {"copied": 1} and result.content_bytes == 0
    assert (tmp_path / "d" / "deep" / "x.txt").read_bytes() == b"same bytes"
    assert os.stat(tmp_path / "d" / "deep" / "x.txt").st_mtime == 1_600_000_000.0
    again = asyncio.run(Puller(None, _run(), blobs, tmp_path / "d", {}).pull([item]))
    assert again.counts() == {"unchanged": 1}


# ---------------------------------------------------------------- resuming

def test_the_newest_checkpoint_is_the_entry_modified_last_then_by_number():
    found = _found(("ckpt/epoch9.pt", "new", 5.0), ("ckpt/epoch10.pt", "new", 5.0),
                   ("ckpt/step-3/w.bin", "new", 4.0), ("ckpt/.tmp", "new", 9.0),
                   ("other/x", "new", 9.0))
    assert newest(found, "ckpt/") == "ckpt/epoch10.pt"
    later = _found(("ckpt/epoch9.pt", "new", 5.0), ("ckpt/step-3/w.bin", "new", 6.0))
    assert newest(later, "ckpt/") == "ckpt/step-3"
    assert newest(found, "none/") is None


def test_resume_points_read_back_and_an_old_stores_absolute_paths_too():
    paths = StorePaths(Path("/store"))
    assert parse("12:ckpt/epoch3.pt", paths) == Point(12, "ckpt/epoch3.pt")
    assert parse("12:exp/ckpt/", paths) == Point(12, "exp/ckpt", folder=True)
    assert parse("/store/runs/4/code/ckpt/e.json", paths) == Point(4, "ckpt/e.json")
    assert parse("/elsewhere/e.json", paths) is None and parse(None, paths) is None
    assert Point(3, "ckpt", folder=True).text() == "3:ckpt/"


# ---------------------------------------------------------------- a box's reply

def test_frames_come_out_whole_however_the_reply_is_cut():
    token = "ab12"
    reply = (b"motd line\nF 0 5\nhello\nEab12\nG 1\nF 2 0\n\nEab12\nF 3 3\n\n\n\n\nEab12\n"
             b"END ab12\n")
    for size in (1, 2, 7, len(reply)):
        frames = _Frames(token)
        got: dict[int, bytes] = {}
        for start in range(0, len(reply), size):
            for index, data in frames.feed(reply[start:start + size]):
                got[index] = got.get(index, b"") + data
        assert frames.ended and got == {0: b"hello", 3: b"\n\n\n"}, size


def test_a_torn_frame_is_refused():
    frames = _Frames("ab12")
    with pytest.raises(BoxError, match="torn"):
        frames.feed(b"F 0 3\nabcXXXXXXXXXX\n")
