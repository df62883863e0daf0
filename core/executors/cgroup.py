"""Where a local run's processes are: its own cgroup (v2) when this machine lets the engine
make one, else its process tree, session and group, and every process that carries the
run's folder in its environment.

A run that double-forks a daemon into a session of its own leaves its process tree, but
not its cgroup: the wrapper joins `<engine's cgroup>/runyard-<store>/run-<id>` before the
command starts (core/runwrap.sh reads the path from RUN_DIR/cgroup), so everything the
command starts is found there, and `cgroup.kill` ends it all at once. The cgroup v2
hierarchy is found in /proc/self/mountinfo (also under /sys/fs/cgroup/unified on hybrid
machines); it is used only when the engine can create a folder there (root, or a
delegated subtree), else the fallback applies: a daemon keeps the environment it was
started with unless it clears it, so `RUNYARD_RUN_DIR=<its run folder>` still names it.
The fallback also covers a cgroup the wrapper could not join (it held no process).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import signal
from pathlib import Path

from core.executors import procs

log = logging.getLogger("runyard.engine")


def hierarchy() -> Path | None:
    """The cgroup v2 folder this process is in, or None (no cgroup v2 here)."""
    mount = None
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    mount = left.split()[4]          # the last one shadows earlier ones
        with open("/proc/self/cgroup") as handle:
            own = next((line.strip()[3:] for line in handle if line.startswith("0::")), None)
    except OSError:
        return None
    if mount is None or own is None:
        return None
    return Path(mount) / own.lstrip("/")


def _remove_folder(folder: Path, deep: bool = True) -> None:
    """Remove a cgroup folder (`deep`: with the cgroups below it); a busy one stays."""
    failed = _rmdir(folder)              # most runs make no cgroup below theirs: done
    if failed is not None and deep and failed.errno != errno.ENOENT:
        for child in sorted(folder.glob("*/"), reverse=True):
            if child.is_dir():
                _remove_folder(child)
        failed = _rmdir(folder)
    if failed is not None:
        log.debug("cgroup %s stays for now: %s", folder, failed.strerror)


def _rmdir(folder: Path) -> OSError | None:
    try:
        folder.rmdir()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            raise
        return exc
    return None


class RunGroups:
    """The cgroups of one store's local runs: `<engine's cgroup>/runyard-<store>/run-<id>`."""

    def __init__(self, home: Path):
        digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:12]
        base = hierarchy()
        self.base: Path | None = base / f"runyard-{digest}" if base is not None else None
        self.usable = self.base is not None
        self.problem: str | None = None if self.usable else "no cgroup v2 hierarchy here"

    def create(self, run_id: int) -> Path | None:
        """A new, empty cgroup for the run (its cgroup.procs file); None when cgroups cannot
        be used here (then the fallback finds the run's processes)."""
        if not self.usable or self.base is None:
            return None
        folder = self.base / f"run-{run_id}"
        try:
            self.base.mkdir(exist_ok=True)
            if folder.exists():
                _remove_folder(folder)
            folder.mkdir()
        except OSError as exc:
            self.usable = False
            self.problem = f"cannot create cgroups in {self.base.parent}: {exc.strerror or exc}"
            log.info("local runs are followed by their process tree: %s", self.problem)
            return None
        return folder / "cgroup.procs"


    def close(self) -> None:
        """Remove the store's cgroup folder when no run has one left in it."""
        if self.base is not None and self.usable:
            _remove_folder(self.base, deep=False)


def members(procs_file: Path | None) -> set[int]:
    """The processes in the run's cgroup (and cgroups below it)."""
    if procs_file is None:
        return set()
    found: set[int] = set()
    for folder, _dirs, files in os.walk(procs_file.parent):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(folder, "cgroup.procs")) as handle:
                    found.update(int(line) for line in handle if line.strip())
            except OSError:
                continue                   # the folder went away meanwhile
    return found - {os.getpid()}


def held_run(procs_file: Path) -> bool:
    """Whether the run's cgroup held a process: its CPU time (cpu.stat, there with or without
    the cpu controller) is above zero once the wrapper joined it. Then everything the run
    started is in it, and the scan of every process's environment (`marked`, about a
    millisecond per run end) is not needed."""
    try:
        with open(procs_file.parent / "cpu.stat") as handle:
            for line in handle:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) > 0
    except (OSError, ValueError):
        return False
    return False


def marked(run_dir: Path) -> set[int]:
    """Processes of this user whose environment holds RUNYARD_RUN_DIR=<run_dir>."""
    needle = b"RUNYARD_RUN_DIR=" + os.fsencode(run_dir) + b"\0"
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read():
                    found.add(int(name))
        except OSError:
            continue                       # gone, or another user's
    return found


def run_processes(root: int | None, run_dir: Path, procs_file: Path | None) -> set[int]:
    """Every live process of the run: its cgroup, its tree from `root`, and (when no cgroup
    held the run) the marked ones."""
    found = members(procs_file)
    if procs_file is None or not held_run(procs_file):
        found |= marked(run_dir)
    if root is not None:
        found |= procs.tree(root)
    return {pid for pid in found if procs.is_same(pid, None)} - {os.getpid()}


def kill_all(procs_file: Path | None, pids: set[int]) -> None:
    """SIGKILL: the whole cgroup at once where the kernel can (cgroup.kill), and each pid."""
    if procs_file is not None:
        try:
            (procs_file.parent / "cgroup.kill").write_text("1")
        except OSError as exc:
            log.debug("cgroup.kill: %s", exc)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


def remove(procs_file: Path | None) -> None:
    """Remove an emptied run cgroup (a busy one stays: the next start of that id retries)."""
    if procs_file is not None:
        _remove_folder(procs_file.parent)


def describe(pids: set[int]) -> str:
    """`4312 (sleep 1000), 4318 (python3 server.py)` for the history of a run."""
    shown = []
    for pid in sorted(pids)[:8]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = [os.fsdecode(a) for a in handle.read().split(b"\0") if a]
            if argv:
                argv[0] = os.path.basename(argv[0])
            command = " ".join(arg if len(arg) <= 40 else arg[:39] + "…" for arg in argv)[:120]
        except OSError:
            command = "?"
        shown.append(f"{pid} ({command})")
    more = f" and {len(pids) - 8} more" if len(pids) > 8 else ""
    return ", ".join(shown) + more
