"""Starting the engine: `python -m core.engine`, and what it tells the client that started it.

The client that spawns an engine (core.client) passes the write end of a pipe in
RUNYARD_ENGINE_READY_FD. The engine writes one line there and closes it: `ready` once it
serves requests, `busy` when another engine already holds the store, or its error as JSON
(a damaged database, a store whose run folders its database does not know, a store that
cannot be written...). So a client learns at once why an engine could not start, instead
of waiting for a socket that never answers.

The engine runs with umask 077: every file and folder it makes in the store is private to
its user. Runs get back the umask of the shell that started the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from core.client import READY_FD
from core.engine.server import AlreadyRunning, Engine
from core.errors import RunyardError, StoreError
from core.paths import StorePaths

log = logging.getLogger("runyard.engine")


class ReadyPipe:
    """The pipe back to the client that started this engine (absent when started by hand)."""

    def __init__(self, fd: int | None):
        self.fd = fd

    @classmethod
    def from_env(cls) -> "ReadyPipe":
        text = os.environ.pop(READY_FD, "")
        if not text.isdigit():
            return cls(None)
        fd = int(text)
        try:
            os.set_inheritable(fd, False)         # runs and tools it starts never hold it
        except OSError:
            return cls(None)
        return cls(fd)

    def say(self, line: bytes) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.write(fd, line)
        except OSError as exc:
            log.info("the client that started the engine is gone: %s", exc)
        finally:
            os.close(fd)

    def serving(self) -> None:
        self.say(b"ready\n")

    def busy(self) -> None:
        self.say(b"busy\n")

    def failed(self, error: RunyardError) -> None:
        self.say(json.dumps(error.to_dict()).encode() + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.engine",
                                     description="Run runyard's engine in the foreground.")
    parser.add_argument("--home", help="the store (default: $RUNYARD_HOME)")
    parser.add_argument("--idle-exit", type=float,
                        default=float(os.environ.get("RUNYARD_ENGINE_IDLE_EXIT", "0") or 0),
                        help="exit after this many idle seconds, 0 = never "
                             "(env: RUNYARD_ENGINE_IDLE_EXIT)")
    args = parser.parse_args(argv)
    run_umask = os.umask(0o077)
    pipe = ReadyPipe.from_env()
    paths = StorePaths(Path(args.home).absolute()) if args.home else StorePaths.from_env()
    try:
        paths.ensure()
        _log_to(paths)
        engine = Engine(paths, idle_exit=args.idle_exit, on_serving=pipe.serving,
                        run_umask=run_umask)
        asyncio.run(engine.serve())
    except AlreadyRunning:
        pipe.busy()
        print(f"an engine is already running for {paths.home}", file=sys.stderr)
        return 0
    except RunyardError as exc:
        return _cannot_start(pipe, exc)
    except OSError as exc:
        return _cannot_start(pipe, StoreError(f"cannot use the store {paths.home}: "
                                              f"{exc.strerror or exc}"))
    finally:
        pipe.say(b"")                       # closes it, if nothing was said
    return 0


def _log_to(paths: StorePaths) -> None:
    try:
        logging.basicConfig(filename=paths.engine_log, level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(message)s")
    except OSError as exc:
        raise StoreError(f"cannot write the engine log {paths.engine_log}: "
                         f"{exc.strerror or exc}",
                         hint="point RUNYARD_HOME at a folder you can write") from None


def _cannot_start(pipe: ReadyPipe, error: RunyardError) -> int:
    log.error("the engine cannot start: %s%s", error.message,
              f" (hint: {error.hint})" if error.hint else "")
    pipe.failed(error)
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)
    return int(error.code)
