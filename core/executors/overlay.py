"""A local run's code folder as an overlay: its snapshot's shared tree below, its changes above.

Where the kernel lets a user mount an overlay in a user namespace of their own (Linux 5.11
or later with unprivileged user namespaces, as Debian and Fedora ship; util-linux 2.38 for
`unshare --map-user`), a run of a big snapshot gets no copy of it. Its wrapper starts in
a new user and mount namespace, where the snapshot's shared tree (core.store.trees) is
mounted as the lower layer of an overlay on the run's `code/` folder, which is also the
upper layer: every write lands there. Inside, the run sees the whole project at `code/`,
writable. Outside, `code/` holds only what the run changed: new and rewritten files, a
deleted file or folder as a whiteout (a 0/0 character device), a folder it removed and
made again marked opaque (the `user.overlay.opaque` attribute). An overlay never writes
its lower layer, so a run writing, chmod-ing or deleting in its folder changes neither the
store nor another run, even as root.

The mount is made as the first namespace's root, after the store's folder of trees is
bound read-only there; the command then runs in a second user namespace inside it under
the user's own uid and gid, so it sees itself as who it is (`id`, file owners) and holds
no capabilities. The mount goes when its last process ends.

`Layers` is the merged view from outside (a listing, where a file's bytes are), for
`tui files`, pulls and resumes.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from core.executors import folder_files
from core.models import FileStat, Listing

MODES = ("auto", "copy", "overlay")
# Under "auto", a snapshot this big gets an overlay; a smaller one is copied (a copy of a
# few hundred files costs milliseconds and leaves a whole folder to browse by hand).
AUTO_FILES = 1000
AUTO_BYTES = 64 * 1024 * 1024
# In the run folder: its code folder is an overlay. The tree it names is for people; the
# engine takes the tree from the run's snapshot id (the run can write this file).
MARK = "code.overlay"
WORK = ".overlay-work"          # the overlay's work folder, beside code/
# Characters the mount options cannot carry unescaped (lowerdir takes a ':' list).
_UNSAFE = (",", ":", "\\", "\n")
# In the run's mount namespace: the folder of shared trees made read-only (a run writing
# there by its path, even as root, cannot change a tree), then the overlay.
_MOUNT = ('"$1" --bind "$2" "$2" && "$1" -o remount,bind,ro "$2" && '
          '"$1" -t overlay overlay -o "userxattr,lowerdir=$3,upperdir=$4,workdir=$5" "$4" '
          '&& shift 5 && exec "$@"')


def big(entries: list[list]) -> bool:
    """Whether a snapshot (its manifest entries) is big enough for an overlay under "auto"."""
    return len(entries) >= AUTO_FILES or sum(e[2] for e in entries if e[1] != "l") >= AUTO_BYTES


def command(lower: Path, code: Path, work: Path, argv: list[str]) -> list[str]:
    """`argv` run with `lower` mounted under `code` (its upper layer), `work` as the
    overlay's work folder, and the folder holding `lower` (the store's trees) read-only.
    Call `problem()` first: this assumes the tools are there."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    assert unshare and mount, "overlay.command() before overlay.problem()"
    return [unshare, "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", _MOUNT,
            "overlay", mount, str(lower.parent), str(lower), str(code), str(work),
            unshare, "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}", "--",
            *argv]


def problem(scratch: Path) -> str | None:
    """None when this user can run a command on an overlay in folders under `scratch`,
    else why not, in a few words. Tried for real: a kernel, a sandbox or a security module
    may refuse any step."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "no unshare or mount command (util-linux)"
    if any(c in str(scratch) for c in _UNSAFE):
        return f"the store's path {scratch} has a character mount options cannot carry"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".overlay-probe-", dir=scratch))
    try:
        lower, code, work = folder / "trees" / "lower", folder / "code", folder / WORK
        for path in (lower, code, work):
            path.mkdir(parents=True)
        (lower / "file").write_text("lower\n")
        script = 'cd "$2" && echo upper > file && test "$(id -u)" = "$1"'
        try:
            done = subprocess.run(command(lower, code, work, ["/bin/sh", "-c", script, "sh",
                                                              str(os.getuid()), str(code)]),
                                  capture_output=True, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL, cwd=folder)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the test mount did not finish: {exc}"
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return f"the test mount failed ({said})"
        if (lower / "file").read_text() != "lower\n" or \
                (code / "file").read_text() != "upper\n":
            return "the test mount did not keep writes in the upper layer"
        return None
    finally:
        remove(folder)


def prepare(run_dir: Path, lower: Path) -> None:
    """An empty upper layer and work folder for a start (what an interrupted start left is
    removed), and the mark that says the code folder is an overlay on `lower`."""
    for name in ("code", WORK):
        remove(run_dir / name)
    (run_dir / "code").mkdir()
    (run_dir / WORK).mkdir()
    (run_dir / MARK).write_text(f"{lower}\n")


def finish(run_dir: Path) -> None:
    """Remove the work folder once the run's processes have ended (the mount went with them)."""
    remove(run_dir / WORK)


def layers(run_dir: Path, lower: Path) -> Layers | None:
    """The run's layers when its code folder is an overlay on `lower` (its snapshot's tree),
    else None. The mark only says whether: the run can write it, so the lower layer is never
    read from it (pointed at /, `tui files` would walk the machine)."""
    if not (run_dir / MARK).is_file():
        return None
    return Layers(run_dir / "code", lower)


def remove(path: Path) -> None:
    """Remove a folder the overlay used: its work folder holds a folder of mode 000."""
    def writable_then_retry(_function, name, _exc) -> None:
        # Not `_function(name)` again: for a folder it can be os.open (which wants flags)
        # or os.scandir (whose listing rmtree would not see); its subtree goes here instead.
        os.chmod(os.path.dirname(name), 0o700)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, 0o700)
            shutil.rmtree(name, onerror=writable_then_retry)
        else:
            os.unlink(name)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=writable_then_retry)      # onexc: 3.12+
    else:
        path.unlink(missing_ok=True)


class Layers:
    """What a run's overlay code folder shows, seen from outside the run's namespace."""

    def __init__(self, upper: Path, lower: Path):
        self.upper = upper
        self.lower = lower

    def listing(self) -> Listing:
        """Every regular file the run sees: its own, then the tree's that nothing hides."""
        now = time.time()
        files: dict[str, FileStat] = {}
        hidden: set[str] = set()        # upper entries that hide the lower path or subtree
        unlisted = 0
        for prefix, folder, dirs, names in _walk(self.upper):
            for name in dirs:
                full = os.path.join(folder, name)
                if os.path.islink(full) or _opaque(full):
                    hidden.add(prefix + name)
            for name in names:
                hidden.add(prefix + name)
                unlisted += _add(files, prefix + name, os.path.join(folder, name))
        for prefix, folder, dirs, names in _walk(self.lower):
            dirs[:] = [d for d in dirs if prefix + d not in hidden]
            for name in names:
                if prefix + name not in hidden:
                    unlisted += _add(files, prefix + name, os.path.join(folder, name))
        return Listing(sorted(files.values(), key=lambda f: f.path), now, unlisted)

    def locate(self, path: str) -> Path | None:
        """Where the bytes of a listed file are (None: not a regular file the run sees)."""
        top = self.upper / path
        try:
            info: os.stat_result | None = os.lstat(top)
        except FileNotFoundError:
            info = None
        except PermissionError:
            return None                         # in a folder the run made unreadable
        if info is not None:
            return top if stat.S_ISREG(info.st_mode) else None
        # Not in the upper layer: the lower layer's, unless a folder above hides it.
        if self._cover(path.split("/")[:-1]) in ("hidden", "opaque"):
            return None
        below = self.lower / path
        try:
            return below if stat.S_ISREG(os.lstat(below).st_mode) else None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def folder(self, path: str) -> Path | None:
        """Where a folder the run sees is, when all of it is in one layer; None when it is
        not there, or its files are spread over both (a folder of the snapshot the run
        added to: no one path shows it whole)."""
        cover = self._cover(path.split("/"))
        if cover == "absent":
            return self.lower / path if _is_folder(self.lower / path) else None
        if cover == "opaque":                   # from there down, the upper layer only
            return self.upper / path if _is_folder(self.upper / path) else None
        if cover == "hidden" or _is_folder(self.lower / path):
            return None
        return self.upper / path

    def _cover(self, parts: list[str]) -> str:
        """How the upper layer covers the folders `parts` name, top down: "absent" (it lacks
        one: the lower layer shows from there), "hidden" (a whiteout, a file or a folder the
        run made unreadable stands in the way), "opaque" (an opaque folder: only the upper
        layer from there) or "merged" (plain folders all the way down: both layers)."""
        for depth in range(1, len(parts) + 1):
            above = self.upper.joinpath(*parts[:depth])
            try:
                info = os.lstat(above)
            except FileNotFoundError:
                return "absent"
            except PermissionError:
                return "hidden"
            if not stat.S_ISDIR(info.st_mode):
                return "hidden"
            if _opaque(str(above)):
                return "opaque"
        return "merged"


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _walk(root: Path):
    top = os.fspath(root)
    if os.path.islink(top):
        return                      # the run replaced its code folder by a symlink
    for folder, dirs, names in os.walk(top):
        rel = os.path.relpath(folder, top)
        dirs.sort()
        yield ("" if rel == "." else rel.replace(os.sep, "/") + "/"), folder, dirs, sorted(names)


def _add(files: dict[str, FileStat], path: str, full: str) -> int:
    """List one regular file; 1 when its name cannot be listed, else 0."""
    try:
        info = os.lstat(full)
    except OSError:
        return 0                        # gone meanwhile, or unreadable
    if not stat.S_ISREG(info.st_mode):
        return 0                        # a whiteout, a link, a device
    if not folder_files.usable_name(path):
        return 1
    files[path] = FileStat(path, info.st_size, info.st_mtime, folder_files.stamp_of(info))
    return 0


def _opaque(path: str) -> bool:
    """Whether an upper folder hides the lower one. A folder the run made unreadable to its
    user (mode 000: a user.* attribute then cannot be read, nor its entries) counts as one:
    what the run sees in it cannot be known from outside, so nothing of the lower is shown."""
    try:
        return os.getxattr(path, "user.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
            return False
        if exc.errno == errno.EACCES:
            return True
        raise
