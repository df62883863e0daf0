"""Snapshots: content-addressed, selective, cached, and private to each run."""

import os
import subprocess
from pathlib import Path

from core.store.blobs import BlobStore
from core.config import SnapshotConfig, find_project
from core.store import snapshot
from core.store.snapshot import compile_globs, list_files, manifest, materialize, take


def _blob_files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"}


def test_unchanged_project_is_stored_once(tmp_path):
    proj = tmp_path / "p"
    (proj / "pkg").mkdir(parents=True)
    for i in range(20):
        (proj / "pkg" / f"m{i}.py").write_text(f"x = {i}\n")
    blobs = BlobStore(tmp_path / "blobs")
    cache: dict = {}
    first = take(find_project(proj), SnapshotConfig(), blobs, cache)
    stored = _blob_files(tmp_path / "blobs")
    for _ in range(100):
        again = take(find_project(proj), SnapshotConfig(), blobs, cache)
        assert again.id == first.id
    assert _blob_files(tmp_path / "blobs") == stored
    assert len(stored) == 21                       # 20 files + 1 manifest


def test_hash_cache_skips_reading_unchanged_files(tmp_path, monkeypatch):
    # Files changed in the last 2 s are never cached (their timestamps could still hide a
    # change); this test is about the cache, so that window is closed here.
    monkeypatch.setattr(snapshot, "_RACY_SECONDS", 0)
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "a.py").write_text("a")
    (proj / "b.py").write_text("b")
    old = os.stat(proj / "a.py").st_mtime - 10     # not "racy": older than the cache window
    for name in ("a.py", "b.py"):
        os.utime(proj / name, (old, old))
    blobs = BlobStore(tmp_path / "blobs")
    cache: dict = {}
    cache.update(take(find_project(proj), SnapshotConfig(), blobs, cache).fresh_hashes)
    read = []
    original = blobs.put_file
    monkeypatch.setattr(blobs, "put_file", lambda path: read.append(path) or original(path))
    (proj / "b.py").write_text("changed")
    take(find_project(proj), SnapshotConfig(), blobs, cache)
    assert [os.path.basename(p) for p in read] == ["b.py"]


def test_git_file_set_is_tracked_plus_untracked_not_ignored(tmp_path):
    proj = tmp_path / "g"
    proj.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True, env=env)
    (proj / ".gitignore").write_text("data/\n*.log\n")
    (proj / "tracked.py").write_text("1")
    subprocess.run(["git", "add", "-A"], cwd=proj, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=proj, check=True, env=env)
    (proj / "new.py").write_text("2")
    (proj / "data").mkdir()
    (proj / "data" / "big.bin").write_text("3")
    (proj / "run.log").write_text("4")
    names = list_files(find_project(proj), SnapshotConfig())
    assert names == [".gitignore", "new.py", "tracked.py"]


def test_non_git_folder_takes_everything_but_excludes_and_warns_on_big_files(tmp_path):
    proj = tmp_path / "p"
    (proj / "data").mkdir(parents=True)
    (proj / "__pycache__").mkdir()
    (proj / "train.py").write_text("x")
    (proj / "data" / "set.csv").write_text("y")
    (proj / "model.ckpt").write_text("z")
    (proj / "__pycache__" / "t.pyc").write_text("c")
    (proj / "huge.bin").write_bytes(b"0" * 2000)
    config = SnapshotConfig(exclude=("data/**", "*.ckpt"), max_file_size=1000)
    snap = take(find_project(proj), config, BlobStore(tmp_path / "blobs"), {})
    names = [e[0] for e in manifest(snap.id, BlobStore(tmp_path / "blobs"))]
    assert names == ["train.py"]
    assert len(snap.warnings) == 1 and "huge.bin (2.0 KB)" in snap.warnings[0]


def test_materialized_copies_are_private(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "train.py").write_text("original")
    (proj / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(proj / "run.sh", 0o755)
    os.symlink("train.py", proj / "link.py")
    blobs = BlobStore(tmp_path / "blobs")
    snap = take(find_project(proj), SnapshotConfig(), blobs, {})
    one, two = tmp_path / "run1", tmp_path / "run2"
    materialize(snap.id, blobs, one)
    materialize(snap.id, blobs, two)
    (one / "train.py").write_text("changed by run 1")
    assert (two / "train.py").read_text() == "original"
    assert all(p.read_bytes() in (b"original", b"#!/bin/sh\n")
               for p in (tmp_path / "blobs").rglob("*") if p.is_file() and p.stat().st_size < 20)
    assert os.access(two / "run.sh", os.X_OK)
    assert os.readlink(two / "link.py") == "train.py"


def test_globs():
    pattern = compile_globs(["data/**", "*.ckpt", "build/", "a/**/**/**/b"])
    assert pattern.match("data/x/y.csv") and pattern.match("a/b/m.ckpt") and pattern.match("build/x")
    assert not pattern.match("src/data.py") and not pattern.match("ckpt.py")
    assert pattern.match("a/b") and pattern.match("a/x/y/z/b") and not pattern.match("a/x/c")


def test_a_glob_that_runs_past_its_time_limit_fails_the_snapshot_with_its_name():
    """The time limit itself: a pattern that backtracks even in `regex` (as no glob we know
    of does) stops after GLOB_TIME_LIMIT with the patterns named, instead of holding the
    engine."""
    import time
    import pytest
    from core import userregex
    from core.errors import SnapshotError
    from core.store.snapshot import GLOB_TIME_LIMIT, Globs
    globs = Globs(["hostile"], userregex.compile_pattern("^(?:(a|aa)+c)$"))
    began = time.monotonic()
    with pytest.raises(SnapshotError) as refused:
        globs.match("a" * 5000)
    assert time.monotonic() - began < GLOB_TIME_LIMIT * 10
    assert "the snapshot globs 'hostile' take too long to match" in refused.value.message
    assert refused.value.code == 2


def test_head_commit_is_read_from_git_files_as_git_says(tmp_path):
    from core.store.snapshot import git_state, head_commit
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}

    def git(*args):
        return subprocess.run(["git", *args], cwd=proj, check=True, env=env,
                              capture_output=True, text=True).stdout.strip()
    proj = tmp_path / "g"
    proj.mkdir()
    git("init", "-q")
    assert head_commit(proj) is None and git_state(proj).commit is None      # unborn branch
    (proj / "a").write_text("1")
    git("add", "-A")
    git("commit", "-qm", "one")
    assert head_commit(proj) == git("rev-parse", "HEAD")                       # loose ref
    git("pack-refs", "--all")
    assert head_commit(proj) == git("rev-parse", "HEAD")                       # packed ref
    git("checkout", "-q", "--detach")
    assert head_commit(proj) == git("rev-parse", "HEAD")                       # detached
    assert git_state(proj).commit == git("rev-parse", "HEAD")


def _git(proj: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", *args], cwd=proj, check=True, env=env, capture_output=True)


def test_a_file_rewritten_with_its_size_and_mtime_put_back_is_hashed_again(tmp_path,
                                                                           monkeypatch):
    """`cp -p` keeps the inode and sets the old mtime back; only ctime tells."""
    monkeypatch.setattr(snapshot, "_RACY_SECONDS", 0)
    proj = tmp_path / "p"
    proj.mkdir()
    data, other = proj / "data.txt", tmp_path / "other.txt"
    data.write_text("old!")
    other.write_text("new!")
    os.utime(data, (1_600_000_000, 1_600_000_000))
    os.utime(other, (1_600_000_000, 1_600_000_000))
    blobs = BlobStore(tmp_path / "blobs")
    cache: dict = {}
    first = take(find_project(proj), SnapshotConfig(), blobs, cache)
    cache.update(first.fresh_hashes)
    inode = data.stat().st_ino
    subprocess.run(["cp", "-p", str(other), str(data)], check=True)
    assert (data.stat().st_ino, data.stat().st_size, data.stat().st_mtime) == \
        (inode, 4, 1_600_000_000)
    again = take(find_project(proj), SnapshotConfig(), blobs, cache)
    assert again.id != first.id
    materialize(again.id, blobs, tmp_path / "copy")
    assert (tmp_path / "copy" / "data.txt").read_text() == "new!"


def _links_project(tmp_path: Path) -> Path:
    proj = tmp_path / "p"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "real.txt").write_text("v1")
    (proj / "abs.txt").symlink_to(proj / "data" / "real.txt")          # absolute, inside
    (proj / "absdir").symlink_to(proj / "data")
    outside = tmp_path / "datasets"
    outside.mkdir()
    (outside / "big.bin").write_text("shared")
    (proj / "datasets").symlink_to(outside)                             # a folder outside
    (proj / "up.txt").symlink_to("../datasets/big.bin")                 # relative, outside
    return proj


def _check_links(tmp_path: Path, proj: Path, snap, blobs: BlobStore) -> None:
    copy = tmp_path / "copy"
    materialize(snap.id, blobs, copy)
    (proj / "data" / "real.txt").write_text("v2")                        # edited after launch
    assert (copy / "abs.txt").read_text() == "v1", "never a link to the live file"
    assert os.path.realpath(copy / "abs.txt").startswith(str(copy))
    # A folder link inside: a link within the copy (git), or followed into a folder of its own.
    assert os.path.realpath(copy / "absdir" / "real.txt").startswith(str(copy))
    assert (copy / "absdir" / "real.txt").read_text() == "v1"
    assert os.readlink(copy / "datasets") == str(tmp_path / "datasets")
    assert (copy / "up.txt").read_text() == "shared", "a link leaving the project still points there"
    assert any("datasets -> " in w for w in snap.warnings), snap.warnings


def test_absolute_links_into_the_project_point_into_the_runs_copy(tmp_path):
    proj = _links_project(tmp_path)
    blobs = BlobStore(tmp_path / "blobs")
    snap = take(find_project(proj), SnapshotConfig(), blobs, {})
    _check_links(tmp_path, proj, snap, blobs)


def test_absolute_links_into_a_git_project_point_into_the_runs_copy(tmp_path):
    proj = _links_project(tmp_path)
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "links")
    blobs = BlobStore(tmp_path / "blobs")
    snap = take(find_project(proj), SnapshotConfig(), blobs, {})
    _check_links(tmp_path, proj, snap, blobs)


def test_outside_git_folder_links_inside_are_followed_and_loops_end(tmp_path):
    proj = tmp_path / "p"
    (proj / "src" / "pkg").mkdir(parents=True)
    (proj / "src" / "pkg" / "m.py").write_text("x = 1")
    (proj / "lib").symlink_to(proj / "src")                 # a folder link inside the project
    (proj / "src" / "pkg" / "loop").symlink_to(proj / "src")   # a loop back up
    snap = take(find_project(proj), SnapshotConfig(), BlobStore(tmp_path / "blobs"), {})
    names = {entry[0]: entry[1] for entry in manifest(snap.id, BlobStore(tmp_path / "blobs"))}
    assert names["lib/pkg/m.py"] == "f" and names["src/pkg/m.py"] == "f"
    assert names["src/pkg/loop"] == "l", "a folder seen already is kept as a link, not walked"


def test_a_file_growing_while_it_is_read_gets_the_size_that_was_stored(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    growing = proj / "train.log"
    growing.write_bytes(b"x" * 20_000_000)
    writer = subprocess.Popen(["sh", "-c", f"while :; do head -c 65536 /dev/zero >> {growing}; "
                                           "done"])
    try:
        blobs = BlobStore(tmp_path / "blobs")
        snap = take(find_project(proj), SnapshotConfig(max_file_size=10**10), blobs, {})
    finally:
        writer.kill()
        writer.wait()
    for name, _kind, size, digest in manifest(snap.id, blobs):
        assert size == blobs.path(digest).stat().st_size, name
    assert snap.total_bytes == sum(e[2] for e in manifest(snap.id, blobs))
