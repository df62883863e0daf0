"""Where the store lives on disk and how it is laid out.

    $RUNYARD_HOME (default $XDG_DATA_HOME/runyard, i.e. ~/.local/share/runyard)
        runyard.db          SQLite state of record (WAL)
        blobs/ab/cdef...    content-addressed file contents (snapshots, diffs, envs)
        runs/<id>/          one folder per run: output.log, metrics.jsonl, exit_status, code/
        engine.lock         held by the live engine (flock)
        engine.json         pid, version and socket of the live engine
        engine.log          the engine's own log
        engine.sock         the engine's socket (elsewhere when the path is too long)
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False           # only checkers read these names (the CLI's start stays short)
if TYPE_CHECKING:
    from collections.abc import Mapping

# The POSIX-sh wrapper every run is started through, here and on boxes (it records the exit
# status); it sits beside this module so that executors and core.remote both find it.
WRAPPER = Path(__file__).with_name("runwrap.sh")

# AF_UNIX paths are limited to 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 100


def default_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("RUNYARD_HOME"):
        return Path(env["RUNYARD_HOME"]).expanduser().absolute()
    data = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                   ".local", "share")
    return Path(data).expanduser().absolute() / "runyard"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                     ".config")
    return Path(base).expanduser() / "runyard" / "config.toml"


class StorePaths:
    """The paths of one store; creating this touches nothing on disk."""

    __slots__ = ("home",)

    def __init__(self, home: Path):
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
        path = self.home / "engine.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        import hashlib       # lazy: ~2.5 ms every CLI call would pay; few paths are this long
        digest = hashlib.sha256(os.fsencode(self.home)).hexdigest()[:20]
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/runyard-{os.getuid()}"
        return Path(runtime) / f"runyard-{digest}.sock"

    def ensure(self) -> None:
        """Create the store's folders (private to the user)."""
        for path in (self.home, self.blobs, self.runs):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
