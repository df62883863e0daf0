"""Where the store lives on disk and how it is laid out.

    $RUNYARD_HOME (default $XDG_DATA_HOME/runyard, i.e. ~/.local/share/runyard)
        runyard.db          SQLite state of record (WAL)
        blobs/ab/cdef...    content-addressed file contents (snapshots, diffs, envs)
        runs/<id>/          one folder per run: output.log, metrics.jsonl, exit_status, code/
        trees/<snapshot>/   a snapshot's files as hard links into trees/pool/, shared by
                            the runs whose code folder is an overlay (core.executors.overlay)
        engine.lock         held by the live engine (flock)
        engine.json         pid, version and socket of the live engine
        engine.log          the engine's own log
        engine.sock         the engine's socket (elsewhere when the path is too long)

The store is private to its user whatever the umask: the engine creates everything with
umask 077, and `ensure()` also takes back a store folder (and its top-level files) that
exists with looser modes. The socket is only ever in a folder this user owns and nobody
else can enter: the store itself, else $XDG_RUNTIME_DIR, else /tmp/runyard-UID (made with
mode 0700; used only when it is a real folder of ours that nobody else can enter).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from core.errors import EngineError, StoreError
from core.storehome import home_folder, store_socket

TYPE_CHECKING = False           # only checkers read these names (the CLI's start stays short)
if TYPE_CHECKING:
    from collections.abc import Mapping

# The POSIX-sh wrapper every run is started through, here and on boxes (it records the exit
# status); it sits beside this module so that executors and core.remote both find it.
WRAPPER = Path(__file__).with_name("runwrap.sh")


def default_home(env: Mapping[str, str] | None = None) -> Path:
    return Path(home_folder(env))


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                     ".config")
    return Path(base).expanduser() / "runyard" / "config.toml"


class StorePaths:
    """The paths of one store; creating this touches nothing on disk."""

    __slots__ = ("home",)

    def __init__(self, home: Path | str):
        self.home = Path(home)

    def __eq__(self, other) -> bool:
        return isinstance(other, StorePaths) and other.home == self.home

    def __hash__(self) -> int:
        return hash(self.home)

    def __repr__(self) -> str:
        return f"StorePaths({str(self.home)!r})"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "StorePaths":
        return cls(default_home(env))

    @property
    def db(self) -> Path:
        return self.home / "runyard.db"

    @property
    def blobs(self) -> Path:
        return self.home / "blobs"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def trees(self) -> Path:
        return self.home / "trees"

    def run_dir(self, run_id: int) -> Path:
        return self.runs / str(run_id)

    def output_log(self, run_id: int) -> Path:
        return self.run_dir(run_id) / "output.log"

    @property
    def lock(self) -> Path:
        return self.home / "engine.lock"

    @property
    def spawn_lock(self) -> Path:
        return self.home / "engine.spawn.lock"

    @property
    def engine_info(self) -> Path:
        return self.home / "engine.json"

    @property
    def engine_log(self) -> Path:
        return self.home / "engine.log"

    @property
    def socket(self) -> Path:
        """The engine's socket: in the store, or (a store path too long for a socket) in a
        private folder of this user's; EngineError when there is none."""
        return self._socket(create=False)

    def prepare_socket(self) -> Path:
        """The socket's path for the engine about to bind it, its folder made if needed."""
        return self._socket(create=True)

    def _socket(self, create: bool) -> Path:
        short = store_socket(str(self.home))
        if short is not None:
            return Path(short)
        import hashlib       # lazy: ~2.5 ms every CLI call would pay; few paths are this long
        name = f"runyard-{hashlib.sha256(os.fsencode(self.home)).hexdigest()[:20]}.sock"
        problems = []
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        fallback = Path(f"/tmp/runyard-{os.getuid()}")
        for folder in (runtime, fallback):
            if not folder:
                continue
            if folder == fallback and not create and not os.path.lexists(fallback):
                return fallback / name                 # the engine makes it when it starts
            problem = private_folder_problem(Path(folder), create and folder == fallback)
            if problem is None:
                return Path(folder) / name
            problems.append(problem)
        raise EngineError(f"no private folder for the engine's socket ({self.home} is too long "
                          f"a path for one): {'; '.join(problems)}",
                          hint="set XDG_RUNTIME_DIR to a folder only you can enter, or use a "
                               "shorter store path (RUNYARD_HOME)")

    def ensure(self) -> None:
        """Create the store's folders, private to the user; a store folder (and its files)
        that exists with looser modes is made private too."""
        try:
            for path in (self.home, self.blobs, self.runs):
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for path in (self.home, self.blobs, self.runs):
                make_private(path)
            for name in _TOP_FILES:
                make_private(self.home / name)
        except OSError as exc:
            raise StoreError(f"cannot set up the store {self.home}: {exc.strerror or exc}",
                             hint=("the store is on a read-only file system: it can be listed, "
                                   "not changed; " if exc.errno == errno.EROFS else "") +
                                  "point RUNYARD_HOME at a folder of yours that can be "
                                  "written") from None


# The store's own files next to its folders, made private by StorePaths.ensure().
_TOP_FILES = ("runyard.db", "runyard.db-wal", "runyard.db-shm", "engine.lock",
              "engine.spawn.lock", "engine.json", "engine.log", "store-id")


def make_private(path: Path) -> None:
    """Take away group and other permissions from a file or folder of ours (missing: fine).
    One owned by another user is refused: it is not this user's store."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        return                                    # a link's own mode means nothing
    if info.st_uid != os.getuid() and os.getuid() != 0:
        raise StoreError(f"{path} belongs to another user (uid {info.st_uid})",
                         hint="point RUNYARD_HOME at a folder of your own")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)


def private_folder_problem(folder: Path, create: bool) -> str | None:
    """Why `folder` cannot hold a private socket (None: it can): it must be a real folder
    (not a link), owned by this user, that nobody else can enter."""
    if create:
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass                    # one already there is checked below, as a new one is
        except OSError as exc:
            return f"cannot create {folder}: {exc.strerror or exc}"
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a folder (a link or a file)"
    if info.st_uid != os.getuid():
        return f"{folder} belongs to uid {info.st_uid}, not to this user"
    if stat.S_IMODE(info.st_mode) & 0o077:
        return f"{folder} can be entered by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def open_private(path: Path, mode: str = "a"):
    """Open a store file for appending, created with mode 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, mode)
