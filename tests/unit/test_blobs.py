"""A run's private copy of a blob: written wherever the run folder is, even on a file system
the blob store's own is not (no reflink, no copy in the kernel across mounts)."""

import os
import tempfile

from core.store.blobs import BlobStore
from tests.helpers import require


def test_a_copy_onto_another_mount_falls_back_to_reading_and_writing(tmp_path):
    # copy_file_range across file systems is EXDEV on Linux 5.19 and later: a store whose
    # runs/ is on another disk than its blobs/ failed every run start ("cannot write").
    require(os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat(tmp_path).st_dev,
            "a tmpfs at /dev/shm, on another file system than the test's folder")
    blobs = BlobStore(tmp_path / "blobs")
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = blobs.put_bytes(data)
    with tempfile.TemporaryDirectory(dir="/dev/shm") as elsewhere:
        dest = os.path.join(elsewhere, "copy.bin")
        blobs.copy_out(digest, dest, 0o640)
        with open(dest, "rb") as handle:
            assert handle.read() == data
        assert os.stat(dest).st_mode & 0o777 == 0o640
        with open(dest, "ab") as handle:          # the copy is the run's own
            handle.write(b"more")
    assert blobs.path(digest).read_bytes() == data
