"""The content-addressed blob store: every distinct file content is kept once, by its sha256.

A private copy of a blob (`copy_out`) is a reflink where the file system has them (btrfs,
XFS: the copy shares the blob's blocks until one side writes, so it costs no space and
the blob stays as it was), else a copy made in the kernel (`copy_file_range`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from core.errors import StoreError

_CHUNK = 1024 * 1024
_FICLONE = 0x40049409       # linux/fs.h: share the source's blocks, copy on write
# Errors that say "no reflinks here" (another file system, or one without them).
_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS,
               errno.EPERM}
# Errors that say "no copy in the kernel here": runs/ on another mount than blobs/ (EXDEV),
# a sandbox without the call, a FUSE or network file system without it.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP, errno.EINVAL}


class BlobStore:
    """Blobs live at `<root>/<first two hex>/<rest>`; they are written once and never changed."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._prefix = str(self.root) + os.sep
        self.reflinks: bool | None = None       # None: not tried yet on this store
        self.kernel_copy: bool | None = None    # likewise, os.copy_file_range
        self._present: set[str] = set()         # digests seen stored (see has)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        """Whether the blob is stored. runyard never removes a blob, so one seen here stays
        known without asking the file system again (a snapshot of 50,000 files asks 50,000
        times per launch)."""
        if digest in self._present:
            return True
        if os.path.exists(f"{self._prefix}{digest[:2]}{os.sep}{digest[2:]}"):
            self._present.add(digest)
            return True
        return False

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    @staticmethod
    def digest_bytes(data: bytes) -> str:
        """The id `put_bytes` would give `data`, without storing it."""
        return hashlib.sha256(data).hexdigest()

    @staticmethod
    def hash_file(source: str | os.PathLike) -> tuple[str, int]:
        """The id `put_file` would give the file, and its size, without storing it."""
        hasher = hashlib.sha256()
        size = 0
        with open(source, "rb") as src:
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        return hasher.hexdigest(), size

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.has(digest):
            with self._temp() as (handle, tmp):
                handle.write(data)
                handle.flush()
            self._commit(tmp, digest)
        return digest

    def put_file(self, source: str | os.PathLike) -> tuple[str, int]:
        """Copy a file in while hashing it; returns (digest, size) of what was read.

        The content stored is exactly the content hashed, even if the file changes meanwhile.
        """
        hasher = hashlib.sha256()
        size = 0
        with open(source, "rb") as src, self._temp() as (handle, tmp):
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
                handle.write(chunk)
                size += len(chunk)
        digest = hasher.hexdigest()
        if self.has(digest):
            os.unlink(tmp)
        else:
            self._commit(tmp, digest)
        return digest, size

    def copy_out(self, digest: str, dest: str | os.PathLike, mode: int) -> None:
        """Write a private, writable copy of a blob (never a link: a run may write into it):
        a reflink where the file system has them, else a copy. `dest` must not exist."""
        try:
            src = os.open(f"{self._prefix}{digest[:2]}{os.sep}{digest[2:]}", os.O_RDONLY)
            try:
                out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                try:
                    os.fchmod(out, mode)             # whatever the umask
                    self._fill(src, out)
                finally:
                    os.close(out)
            finally:
                os.close(src)
        except OSError as exc:
            raise _store_error(exc, f"cannot write {dest}") from None

    def _fill(self, src: int, out: int) -> None:
        if self.reflinks is not False:
            try:
                fcntl.ioctl(out, _FICLONE, src)
                self.reflinks = True
                return
            except OSError as exc:
                if exc.errno not in _NO_REFLINK:
                    raise
                self.reflinks = False
        if self.kernel_copy is not False:
            try:
                while os.copy_file_range(src, out, _CHUNK):
                    pass
                self.kernel_copy = True
                return
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                self.kernel_copy = False
                os.lseek(src, 0, os.SEEK_SET)          # start again, by reading and writing
                os.lseek(out, 0, os.SEEK_SET)
                os.ftruncate(out, 0)
        while chunk := os.read(src, _CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]

    # ------------------------------------------------------------ internals

    def _temp(self):
        return _TempFile(self.root)

    def _commit(self, tmp: str, digest: str) -> None:
        final = self.path(digest)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise _store_error(exc, f"cannot store blob {digest[:12]}") from None
        self._present.add(digest)


class _TempFile:
    def __init__(self, root: Path):
        self.root = root

    def __enter__(self):
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, self.name = tempfile.mkstemp(dir=tmp_dir)
        except OSError as exc:
            raise _store_error(exc, "cannot create a file in the blob store") from None
        self.handle = os.fdopen(fd, "wb")
        return self.handle, self.name

    def __exit__(self, kind, exc, tb):
        try:
            self.handle.close()
        except OSError as close_exc:
            exc = exc or close_exc
        if exc is not None:
            _unlink_quietly(self.name)
            if isinstance(exc, OSError):
                raise _store_error(exc, "cannot write to the blob store") from None
        return False


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return


def _store_error(exc: OSError, what: str) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"{what}: no space left on device",
                          hint="free some space, or move the store with RUNYARD_HOME")
    return StoreError(f"{what}: {exc.strerror or exc}")
