"""The store's folder and its engine socket as plain strings: enough to reach a running engine.

core.paths builds on these; a `tui launch` to a running engine needs nothing more, and so
skips pathlib (~4 ms of its start-up, tests/bench/bench_imports.py).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False           # only checkers read these names (the CLI's start stays short)
if TYPE_CHECKING:
    from collections.abc import Mapping

# AF_UNIX paths are limited to 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 100


def home_folder(env: Mapping[str, str] | None = None) -> str:
    """$RUNYARD_HOME, else $XDG_DATA_HOME/runyard, else ~/.local/share/runyard; absolute."""
    env = os.environ if env is None else env
    if env.get("RUNYARD_HOME"):
        home = os.path.expanduser(env["RUNYARD_HOME"])
    else:
        data = env.get("XDG_DATA_HOME") or os.path.join(
            env.get("HOME") or os.path.expanduser("~"), ".local", "share")
        home = os.path.join(os.path.expanduser(data), "runyard")
    return home if os.path.isabs(home) else os.path.join(os.getcwd(), home)


def store_socket(home: str) -> str | None:
    """The engine's socket in the store folder `home`; None when that path is too long for
    a socket (core.paths.StorePaths.socket then finds it a private folder elsewhere)."""
    path = os.path.join(home, "engine.sock")
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None
