"""On a file system with reflinks (XFS here, on a loop device made for the test), a run's
private copy shares the blobs' blocks: an unchanged big file costs the run no space, a run
writing into its copy pays only for what it wrote, and changes neither the blob nor the
next run's copy."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, Cli, isolated_env, require, stop_store

BIG = 32 * 2**20


def _own_bytes(path: Path) -> int:
    """Bytes of the file in extents it shares with no other file (xfs_bmap's flag 100000):
    what a copy of it costs on its own."""
    out = subprocess.run(["xfs_bmap", "-v", str(path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[2:]
    own = 0
    for line in out:
        fields = line.split()
        if len(fields) < 6 or fields[2] == "hole":
            continue
        shared = len(fields) > 6 and fields[6].zfill(6).startswith("1")
        own += 0 if shared else int(fields[5]) * 512
    return own


@pytest.fixture
def xfs(tmp_path):
    require(os.geteuid() == 0, "root mounts the loop file system")
    require(shutil.which("mkfs.xfs") is not None, "xfsprogs (mkfs.xfs)")
    image, mount = tmp_path / "xfs.img", tmp_path / "xfs"
    with open(image, "wb") as handle:
        handle.truncate(1 << 30)
    subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=True)
    mount.mkdir()
    proc = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True,
                          text=True)
    require(proc.returncode == 0, f"a loop mount: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_runs_copy_shares_the_blobs_blocks_and_writing_it_changes_nothing_shared(
        xfs, tmp_path):
    env = isolated_env(tmp_path, home=xfs / "store")
    project = xfs / "project"
    shutil.copytree(EXAMPLES / "train", project)
    content = os.urandom(BIG)
    (project / "data.bin").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    cli = Cli(env, project)
    try:
        first = cli.launch("true")
        cli.wait_state(first, "succeeded")
        blob = xfs / "store" / "blobs" / digest[:2] / digest[2:]
        assert blob.read_bytes() == content
        writer = cli.launch("sh", "-c", "printf changed | dd of=data.bin conv=notrunc "
                            "status=none; echo more >> data.bin", opts=("--name", "writer"))
        cli.wait_state(writer, "succeeded")
        # (df is no measure here: XFS holds copy-on-write reservations for a while.)
        runs = xfs / "store" / "runs"
        assert _own_bytes(runs / str(first) / "code" / "data.bin") == 0
        assert _own_bytes(runs / str(writer) / "code" / "data.bin") < 2**20
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest
        reader = cli.launch("sh", "-c", "sha256sum data.bin", opts=("--name", "reader"))
        cli.wait_state(reader, "succeeded")
        assert cli("logs", str(reader)).stdout.split()[0] == digest
    finally:
        stop_store(env, tmp_path)
