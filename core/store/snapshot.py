"""Snapshots: the frozen, content-addressed copy of a project that a run sees.

`take()` lists the project's files (git-tracked plus untracked-not-ignored in a git work
tree; every file elsewhere, minus excludes), stores each distinct content once in the blob
store, and records a manifest whose sha256 is the snapshot id. Files are hashed once:
a cache keyed by (path, size, mtime, inode, ctime) skips unchanged files; ctime catches a
file rewritten in place with its old size and mtime put back (`cp -p`, `rsync -t`). A file
that grows while it is read is recorded with the size of what was stored.
`materialize()` writes a private copy for one run, so a run that writes into its code
folder touches nothing shared.

Links: a link that resolves inside the project is kept relative, so the run's copy points
into the run's own copy (an absolute link to a file of the project would reach the live
file); a link to a file of the project that the snapshot does not hold is stored as that
file's content. A link leaving the project is kept (made absolute), and runs see what it
points to live; outside git, a linked folder inside the project is followed, and a linked
folder outside it is kept as a link and named in a warning. An unreadable file or folder
stops the launch with its name and how to leave it out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.store.blobs import BlobStore
from core import userregex
from core.config import Project, SnapshotConfig
from core.errors import ExitCode, SnapshotError, StoreError

# Folders left out of a non-git project unless `snapshot.include` names them.
DEFAULT_EXCLUDES = (".git", "__pycache__", "*.pyc", ".venv", "venv", "node_modules",
                    ".mypy_cache", ".pytest_cache", ".ipynb_checkpoints")
# Seconds one snapshot glob may take on one path name (core.userregex).
GLOB_TIME_LIMIT = 0.5
# A file whose mtime is this recent is hashed again next time (its content may still change
# within the file system's timestamp granularity).
_RACY_SECONDS = 2.0


@dataclass(frozen=True)
class Snapshot:
    id: str
    file_count: int
    total_bytes: int
    warnings: tuple[str, ...] = ()
    fresh_hashes: dict = field(default_factory=dict)   # cache entries to remember
    new_files: int = 0          # hash-only mode: contents the blob store does not have yet
    new_bytes: int = 0


@dataclass(frozen=True)
class GitState:
    commit: str | None
    diff: bytes | None          # `git diff HEAD` output; empty when the tree is clean


# ---------------------------------------------------------------- file selection

class Globs:
    """Compiled gitignore-like globs, matched with a time limit: a glob is a user pattern,
    and a few stars against a long name can backtrack for hours (`*_*_*_*_*_*_*_*_*.tmp`
    against a name with 80 underscores), holding the GIL, so the engine would stop
    answering. The `regex` package takes a timeout (core.userregex)."""

    def __init__(self, patterns: list[str], compiled: userregex.Pattern):
        self.patterns = patterns
        self.compiled = compiled

    def match(self, name: str) -> bool:
        try:
            return userregex.search(self.compiled, name, GLOB_TIME_LIMIT) is not None
        except userregex.PatternTimeout:
            err = SnapshotError(f"the snapshot globs {', '.join(map(repr, self.patterns))} "
                                f"take too long to match {name!r} (they backtrack)",
                                hint="use fewer * in one name and no **/**/ in a row")
            err.code = ExitCode.USAGE
            raise err from None


def compile_globs(patterns) -> Globs | None:
    """gitignore-like globs: `*` within a name, `**` across folders, no `/` = any depth."""
    parts = []
    given = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        given.append(pattern)
        anchored = "/" in pattern.rstrip("/")
        body = pattern.strip("/")
        while "**/**/" in body:                       # the same, without the backtracking
            body = body.replace("**/**/", "**/")
        text = ""
        i = 0
        while i < len(body):
            if body.startswith("**/", i):
                text += "(?:.*/)?"
                i += 3
            elif body.startswith("**", i):
                text += ".*"
                i += 2
            elif body[i] == "*":
                text += "[^/]*"
                i += 1
            elif body[i] == "?":
                text += "[^/]"
                i += 1
            else:
                text += re.escape(body[i])
                i += 1
        prefix = "" if anchored else "(?:.*/)?"
        parts.append(f"{prefix}{text}(?:/.*)?")
    if not parts:
        return None
    return Globs(given, userregex.compile_pattern("^(?:" + "|".join(parts) + ")$", re.S))


def list_files(project: Project, config: SnapshotConfig,
               skip: tuple[Path, ...] = ()) -> list[str]:
    """Relative POSIX paths of the files that belong in the snapshot, sorted."""
    if project.is_git:
        names = _git_files(project.root)
    else:
        names = _walk(project.root, compile_globs(DEFAULT_EXCLUDES))
    include = compile_globs(config.include)
    exclude = compile_globs(config.exclude)
    skipped = [p.relative_to(project.root).as_posix() + "/" for p in skip
               if p.is_relative_to(project.root)]
    out = []
    for name in names:
        if include is not None and not include.match(name):
            continue
        if exclude is not None and exclude.match(name):
            continue
        if any(name.startswith(prefix) for prefix in skipped):
            continue
        out.append(name)
    out.sort()
    return out


def _git_files(root: Path) -> list[str]:
    proc = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = proc.stdout.split(b"\0")
    return sorted({os.fsdecode(n) for n in names if n})


def _walk(root: Path, default_exclude: Globs | None) -> list[str]:
    """Every file under `root` (outside git), folder links inside the project followed
    (each real folder once: a link loop ends), others listed as themselves."""
    out = []
    seen = {os.path.realpath(root)}
    real_root = os.path.realpath(root)

    def unreadable(error: OSError) -> None:
        raise _unreadable(error.filename, error, folder=True)

    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        rel = os.path.relpath(folder, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        kept = []
        for name in dirs:
            if default_exclude and default_exclude.match(rel + name):
                continue
            path = os.path.join(folder, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if not _inside(real, real_root) or real in seen:
                    out.append(rel + name)          # a link: kept as one (see take)
                    continue
                seen.add(real)
            kept.append(name)
        dirs[:] = kept
        for name in files:
            path = rel + name
            if not (default_exclude and default_exclude.match(path)):
                out.append(path)
    return out


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _unreadable(path, error: OSError, folder: bool = False) -> SnapshotError:
    """A file or folder the snapshot cannot read: say which, and how to leave it out."""
    name = os.fsdecode(path) if path is not None else "a project file"
    what = "folder" if folder else "file"
    err = SnapshotError(f"cannot read the project {what} {name}: {error.strerror or error}",
                        hint=f'leave it out of snapshots: [snapshot] exclude = ["{_glob(name)}"] '
                             "in runyard.toml (or .gitignore it), or make it readable")
    err.code = ExitCode.USAGE
    return err


def _glob(name: str) -> str:
    return os.path.basename(name.rstrip("/")) + ("/" if name.endswith("/") else "")


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SnapshotError("git is not installed, but the project is a git work tree",
                            hint="install git, or launch from a folder outside git") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip()
        raise SnapshotError(f"git {args[0]} failed in {root}: {message}")
    return proc


# ---------------------------------------------------------------- taking a snapshot

def take(project: Project, config: SnapshotConfig, blobs: BlobStore, cache: dict,
         skip: tuple[Path, ...] = (), store: bool = True) -> Snapshot:
    """Store the project's files and its manifest; return the snapshot (nothing else changes).

    `cache` maps absolute path -> (size, mtime_ns, inode, ctime_ns, digest); it is only read
    here, new entries come back in `Snapshot.fresh_hashes`. With `store=False` (a dry run) the
    files are only hashed: the same id comes back, and nothing at all is written; what
    the blob store lacks is counted in `new_files` and `new_bytes`.
    """
    names = list_files(project, config, skip)
    chosen = set(names)
    entries = []
    fresh: dict = {}
    warnings: list[str] = []
    too_big: list[str] = []
    outside: list[str] = []
    total = 0
    new_files = new_bytes = 0
    racy_after = time.time_ns() - int(_RACY_SECONDS * 1e9)
    root = str(project.root)
    real_root = os.path.realpath(root)
    for name in names:
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue                      # tracked but deleted in the work tree
        except OSError as exc:
            raise _unreadable(path, exc) from None
        if stat.S_ISLNK(info.st_mode):
            link = _link(path, name, real_root, chosen)
            if link is None:
                continue                  # gone meanwhile
            if link[0] == "l":
                if link[2]:
                    outside.append(f"{name} -> {link[1]}")
                entries.append([name, "l", 0, link[1]])
                continue
            path, info = link[1], link[2]      # a file of the project: stored as content
        if not stat.S_ISREG(info.st_mode):
            continue                      # submodule folders, sockets, fifos
        if info.st_size > config.max_file_size:
            too_big.append(f"{name} ({human_size(info.st_size)})")
            continue
        key = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
        cached = cache.get(path)
        digest = cached[4] if cached and len(cached) == 5 and tuple(cached[:4]) == key else None
        size = info.st_size
        if not store:
            if digest is None:
                read = _read(blobs.hash_file, path)
                if read is None:
                    continue
                digest, size = read
            if not blobs.has(digest):
                new_files += 1
                new_bytes += size
        elif digest is None or not blobs.has(digest):
            read = _read(blobs.put_file, path)
            if read is None:
                continue
            digest, size = read
            if size == info.st_size and max(info.st_mtime_ns, info.st_ctime_ns) < racy_after \
                    and _storable(path):
                fresh[path] = (*key, digest)
        kind = "x" if info.st_mode & 0o111 else "f"
        entries.append([name, kind, size, digest])
        total += size
    if too_big:
        warnings.append(f"left out {len(too_big)} file(s) over the {human_size(config.max_file_size)} "
                        f"snapshot.max_file_size cap: " + ", ".join(too_big))
    if outside:
        warnings.append(f"kept {len(outside)} link(s) to folders or files outside the project "
                        "as links (runs see what they point to as it is then, not a copy): "
                        + ", ".join(outside))
    manifest = json.dumps({"v": 1, "files": entries}, separators=(",", ":")).encode()
    snapshot_id = blobs.put_bytes(manifest) if store else blobs.digest_bytes(manifest)
    return Snapshot(id=snapshot_id, file_count=len(entries), total_bytes=total,
                    warnings=tuple(warnings), fresh_hashes=fresh, new_files=new_files,
                    new_bytes=new_bytes)


def _link(path: str, name: str, real_root: str, chosen: set[str]):
    """How a link is stored: ("l", target, leaves-the-project) kept as a link, or
    ("f", real path, its stat) stored as the file's content. A dangling link is kept as it
    is; None when it cannot be read at all."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return "l", target, False
    if not _inside(real, real_root):
        if stat.S_ISDIR(info.st_mode) or not os.path.isabs(target):
            return "l", real, True            # the same place, from wherever the copy is
        return "l", target, True
    inside = os.path.relpath(real, real_root).replace(os.sep, "/")
    if stat.S_ISREG(info.st_mode) and inside not in chosen:
        return "f", real, info                 # its target is not in the snapshot: the content
    relative = os.path.relpath(real, os.path.dirname(os.path.join(real_root, name)))
    return "l", relative, False


def _storable(path: str) -> bool:
    """Whether the hash cache can keep this path (SQLite text: no undecodable bytes)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read(reader, path: str) -> tuple[str, int] | None:
    """`reader(path)` -> (digest, size); None when the file went away meanwhile."""
    try:
        return reader(path)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except PermissionError as exc:
        raise _unreadable(path, exc) from None


def manifest(snapshot_id: str, blobs: BlobStore) -> list[list]:
    """The manifest entries [path, kind ('f', 'x' or 'l'), size, digest or link target]."""
    try:
        return json.loads(blobs.read(snapshot_id))["files"]
    except FileNotFoundError:
        raise StoreError(f"snapshot {snapshot_id[:12]} is missing from the blob store") from None


def executables(snapshot_id: str | None, blobs: BlobStore) -> list[str]:
    """The paths of the snapshot's executable files (none without a snapshot)."""
    if not snapshot_id:
        return []
    return [name for name, kind, _size, _ref in manifest(snapshot_id, blobs) if kind == "x"]


def materialize(snapshot_id: str, blobs: BlobStore, dest: Path) -> int:
    """Write the snapshot's files under `dest` as private, writable copies; return file count."""
    entries = manifest(snapshot_id, blobs)
    made: set[str] = set()
    dest.mkdir(parents=True, exist_ok=True)
    for name, kind, _size, ref in entries:
        target = dest / name
        parent = os.path.dirname(name)
        if parent and parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        if kind == "l":
            os.symlink(ref, target)
        else:
            blobs.copy_out(ref, target, 0o755 if kind == "x" else 0o644)
    return len(entries)


def private_copy(snapshot_id: str | None, blobs: BlobStore, dest: Path) -> None:
    """A run's own copy of its snapshot at `dest`, replacing what an interrupted start left."""
    if dest.exists():
        shutil.rmtree(dest)
    if snapshot_id:
        materialize(snapshot_id, blobs, dest)
    else:
        dest.mkdir(parents=True)


# ---------------------------------------------------------------- git state

def git_state(root: Path) -> GitState:
    """The commit checked out and the uncommitted diff of tracked files (None outside git)."""
    commit = head_commit(root)
    if commit is None:
        found = _git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
        if found.returncode != 0:
            return GitState(commit=None, diff=None)
        commit = found.stdout.decode().strip()
    diff = _git(root, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", check=False)
    return GitState(commit=commit, diff=diff.stdout if diff.returncode == 0 else None)


_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def head_commit(root: Path) -> str | None:
    """HEAD's commit read from .git's files (a launch spares a `git` process); None when
    anything is unusual (a worktree's or submodule's .git file, a symbolic ref chain...),
    and the caller asks git instead."""
    git_dir = root / ".git"
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if _SHA.match(head):
            return head                               # detached HEAD
        if not head.startswith("ref: refs/"):
            return None
        ref = head[5:]
        loose = git_dir / ref
        if loose.is_file():
            value = loose.read_text().strip()
            return value if _SHA.match(value) else None
        for line in (git_dir / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref) and _SHA.match(line.split(" ", 1)[0]):
                return line.split(" ", 1)[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None                                       # an unborn branch: no commit yet


def human_size(size: float) -> str:
    """`512 B`, `1.2 MB`: a size as a message says it."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
