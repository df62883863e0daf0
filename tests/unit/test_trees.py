"""Shared trees (core.store.trees) on the real file system: one per snapshot, links into a
pool kept by content and mode, and a copy where a pool file has all the links it can."""

from __future__ import annotations

import errno
import os

from core.config import SnapshotConfig, find_project
from core.store import trees
from core.store.blobs import BlobStore
from core.store.snapshot import take
from tests.helpers import require

LINKS_TRIED = 70_000


def _snapshot(project, blobs):
    return take(find_project(project), SnapshotConfig(), blobs, {}).id


def test_a_tree_links_into_the_pool_with_each_files_mode(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "a.py").write_text("same\n")
    (project / "b.py").write_text("same\n")
    (project / "run.sh").write_text("same\n")
    os.chmod(project / "run.sh", 0o755)
    blobs = BlobStore(tmp_path / "blobs")
    tree = trees.tree(_snapshot(project, blobs), blobs, tmp_path / "trees")
    a, b, run = (os.stat(tree / name) for name in ("a.py", "b.py", "run.sh"))
    assert a.st_ino == b.st_ino and a.st_mode & 0o777 == 0o644
    assert run.st_ino != a.st_ino and run.st_mode & 0o777 == 0o755
    assert (tree / "run.sh").read_text() == "same\n"


def test_past_the_file_systems_links_per_file_a_tree_gets_a_copy(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "__init__.py").write_text("")
    blobs = BlobStore(tmp_path / "blobs")
    first = trees.tree(_snapshot(project, blobs), blobs, tmp_path / "trees")
    pooled = os.stat(first / "__init__.py")
    filler = tmp_path / "filler"
    filler.mkdir()
    full = False
    for i in range(LINKS_TRIED):             # fill the pool file's links (ext4: 65,000)
        try:
            os.link(first / "__init__.py", filler / str(i))
        except OSError as exc:
            assert exc.errno == errno.EMLINK, exc
            full = True
            break
    require(full, f"a file system with a limit of links per file under {LINKS_TRIED} (ext4)")
    (project / "other.py").write_text("x\n")
    second = trees.tree(_snapshot(project, blobs), blobs, tmp_path / "trees")
    copied = os.stat(second / "__init__.py")
    assert copied.st_ino != pooled.st_ino and copied.st_size == 0
    assert copied.st_mode & 0o777 == 0o644


def test_a_build_a_killed_engine_left_is_cleared(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "a.py").write_text("a\n")
    blobs = BlobStore(tmp_path / "blobs")
    snapshot = _snapshot(project, blobs)
    left = tmp_path / "trees" / f".building-{snapshot[:16]}-99999999-1"
    (left / "half").mkdir(parents=True)
    tree = trees.tree(snapshot, blobs, tmp_path / "trees")
    assert (tree / "a.py").read_text() == "a\n"
    assert sorted(p.name for p in (tmp_path / "trees").iterdir()) == [snapshot, "pool"]
