"""Talking to the engine from the CLI and the app: blocking, small, and starting it on demand.

No asyncio here: a CLI call is one short request, and importing asyncio costs more than
the request itself.

Sockets are `_socket`'s, the C module the `socket` package wraps: that wrapper builds its
enums and imports `selectors` on import, ~2 ms of every CLI call (tests/bench/
bench_imports.py), for nothing a one-line request uses; `LineReader` reads the replies.

No request waits forever: the engine sends a heartbeat line (`{"event": "alive"}`) every
second while it works on a request, so a client that hears nothing for ENGINE_TIMEOUT
seconds (`RUNYARD_ENGINE_TIMEOUT`, default 10) knows the engine is stopped (SIGSTOP) or
hung, and says so. A starting engine reports through a pipe (RUNYARD_ENGINE_READY_FD)
that it serves, or why it cannot; an engine that dies at start is known at once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import sys
import time

from _socket import AF_UNIX, SOCK_STREAM, socket

from core import protocol
from core.errors import EngineError, RunyardError, StoreError
from core.storehome import store_socket

TYPE_CHECKING = False       # only types here; `tui status` imports this module without them
if TYPE_CHECKING:
    from pathlib import Path

    from core.paths import StorePaths
    from core.requests import Request

START_TIMEOUT = 30.0
# Seconds without a line from the engine after which a request gives up on it.
ENGINE_TIMEOUT = float(os.environ.get("RUNYARD_ENGINE_TIMEOUT") or 10.0)
# How long a client that lost the engine mid-request waits for it to be gone before it
# starts a new one and asks again.
GONE_WAIT = 10.0
# The pipe a starting engine reports on: its write end's number, in the engine's environment.
READY_FD = "RUNYARD_ENGINE_READY_FD"
_RETRYABLE = (ConnectionRefusedError, FileNotFoundError, ConnectionResetError,
              BrokenPipeError)


class EngineSilent(EngineError):
    """The engine took a request, or its connection, and then said nothing for ENGINE_TIMEOUT."""


class EngineGone(EngineError):
    """The engine's end of the connection closed before its reply (it died or stopped)."""


def engine_alive(paths: StorePaths) -> bool:
    """Whether a live engine holds the store's lock (cheap: no socket, no request)."""
    try:
        handle = open(paths.lock, "r")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


class EngineClient:
    """Requests to the engine of one store: its StorePaths, or its folder as a string.

    Given the folder (core.storehome.home_folder), a request to a running engine never
    imports pathlib (~4 ms of a `tui launch`, tests/bench/bench_imports.py): the store's
    StorePaths is made only to start the engine, or for an error's hint.
    """

    def __init__(self, store: StorePaths | str):
        self._store = store

    @property
    def paths(self) -> StorePaths:
        if isinstance(self._store, str):
            from core.paths import StorePaths   # lazy: see the class's docstring
            self._store = StorePaths(self._store)
        return self._store

    # ------------------------------------------------------------ requests

    def request(self, request: Request, *, start: bool = True) -> dict:
        """Send one request and return the final reply; raise the engine's error as ours.

        A request with a resend id (launch, clone) whose engine died before replying is
        sent once more to the engine started again: it answers from what it recorded under
        that id (the runs the first one made), or carries it out if nothing was recorded.
        """
        try:
            return self._one_reply(request, start)
        except EngineGone:
            if request.resend_id() is None or not start:
                raise
        deadline = time.monotonic() + GONE_WAIT       # a killed engine takes a moment to go
        while engine_alive(self.paths) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.start()
        return self._one_reply(request, start)

    def _one_reply(self, request: Request, start: bool) -> dict:
        for reply in self.stream(request, start=start):
            if "event" not in reply:
                return reply
        raise EngineGone("the engine closed the connection without a reply")

    def stream(self, request: Request, *, start: bool = True, timeout: float | None = None):
        """Yield every line the engine sends for this request (events, then the reply);
        heartbeats are not passed on.

        With `timeout`, a reply slower than that raises TimeoutError (`socket.timeout`). An
        engine that sends nothing, not even a heartbeat, for ENGINE_TIMEOUT seconds raises
        EngineError.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self._connect(start)
        try:
            sock.settimeout(ENGINE_TIMEOUT)
            try:
                sock.sendall(protocol.encode(request.message()))
            except TimeoutError:
                raise self._silent() from None
            except (BrokenPipeError, ConnectionResetError):
                raise self._gone() from None
            reader = LineReader(sock)
            while True:
                try:
                    line = self._read_line(sock, reader, deadline)
                except ConnectionResetError:
                    raise self._gone() from None
                if not line:
                    raise self._gone()
                if not line.endswith(b"\n"):
                    raise EngineError(
                        f"the engine's reply is longer than {protocol.MAX_LINE >> 20} MB",
                        hint="ask about fewer runs at once")
                reply = protocol.decode(line)
                if reply.get("ok") is False:
                    raise RunyardError.from_dict(reply.get("error") or {})
                if reply.get("event") == "alive":
                    continue
                yield reply
                if "event" not in reply:
                    return
        finally:
            sock.close()

    def _read_line(self, sock: socket, reader: LineReader, deadline: float | None) -> bytes:
        """One line; TimeoutError past `deadline`, EngineError after ENGINE_TIMEOUT of silence."""
        silence = ENGINE_TIMEOUT
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            if left < silence:
                sock.settimeout(left)
                try:
                    return reader.readline(protocol.MAX_LINE)
                finally:
                    sock.settimeout(silence)
        try:
            return reader.readline(protocol.MAX_LINE)
        except TimeoutError:
            raise self._silent() from None

    def _gone(self) -> EngineGone:
        return EngineGone("the engine closed the connection before replying (it stopped or "
                          "was killed)", hint=f"see {self.paths.engine_log}")

    def _silent(self) -> EngineSilent:
        pid = engine_pid(self.paths)
        who = f"the engine (pid {pid})" if pid else "the engine"
        check = (f"ps -o pid,stat,args -p {pid} shows T when it is stopped; kill -CONT {pid} "
                 f"resumes it, kill {pid} ends it (runs keep running)") if pid else \
            f"see {self.paths.engine_log}"
        return EngineSilent(f"{who} has not answered for {ENGINE_TIMEOUT:.0f} s: it is stopped "
                           "(SIGSTOP, Ctrl-Z) or hung", hint=check)

    def _connect(self, start: bool) -> socket:
        try:
            return self._open_socket()
        except _RETRYABLE:
            if not start:
                raise EngineError("the engine is not running",
                                  hint="it starts with the next `tui launch`") from None
        self.start()
        return self._open_socket()

    def _open_socket(self) -> socket:
        sock = socket(AF_UNIX, SOCK_STREAM)
        sock.settimeout(ENGINE_TIMEOUT)          # a stopped engine with a full backlog
        try:
            sock.connect(self._socket_path())
        except TimeoutError:
            sock.close()
            raise self._silent() from None
        except OSError:
            sock.close()
            raise
        return sock

    def _socket_path(self) -> str:
        short = store_socket(self._store) if isinstance(self._store, str) else None
        return short or str(self.paths.socket)

    # ------------------------------------------------------------ starting the engine

    def start(self) -> None:
        """Start the engine detached from this terminal, unless one is up; wait until it
        answers. An engine that cannot start says why at once (its error is raised here)."""
        from core.paths import open_private     # lazy: see the class's docstring
        self.paths.ensure()
        try:
            lock = open_private(self.paths.spawn_lock)
        except OSError as exc:
            raise StoreError(f"cannot start the engine in {self.paths.home}: "
                             f"{exc.strerror or exc}", hint=_store_hint(exc)) from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._answers():
                return
            ready = self._spawn()
            try:
                self._until_serving(ready, time.monotonic() + START_TIMEOUT)
            finally:
                os.close(ready)

    def _until_serving(self, ready: int, deadline: float) -> None:
        """Wait for the new engine's word on the ready pipe: `ready`, `busy` (another engine
        holds the store: wait for it to answer), an error, or nothing (it died at start)."""
        said = b""
        while time.monotonic() < deadline:
            if ready >= 0 and select.select([ready], [], [], 0.02)[0]:
                chunk = os.read(ready, 65536)
                said += chunk
                if chunk and not said.endswith(b"\n"):
                    continue
                word = said.strip()
                if word == b"ready":
                    return
                if word.startswith(b"{"):
                    raise RunyardError.from_dict(json.loads(word))
                if word != b"busy":
                    raise EngineError("the engine exited as it started",
                                      hint=f"see {self.paths.engine_log}"
                                           f"{_log_tail(self.paths.engine_log)}")
                ready = -1                       # another engine: it answers soon
            elif ready < 0:
                time.sleep(0.02)
            if self._answers():
                return
        raise EngineError(f"the engine did not start within {START_TIMEOUT:.0f} s",
                          hint=f"see {self.paths.engine_log}{_log_tail(self.paths.engine_log)}")

    def _answers(self) -> bool:
        try:
            self._open_socket().close()
            return True
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return False
            raise

    def _spawn(self) -> int:
        """Start the engine; the read end of the pipe it reports on."""
        import subprocess    # lazy: ~1.6 ms that `tui status` skips unless an engine starts

        from core.paths import open_private     # lazy: see the class's docstring
        source_root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
        env["RUNYARD_HOME"] = str(self.paths.home)
        ready, told = os.pipe()
        env[READY_FD] = str(told)
        try:
            with open_private(self.paths.engine_log, "ab") as log:
                # `sh -c '"$@" &'` leaves the engine an orphan (adopted by init), so a
                # long-lived client like the app never has to reap it.
                subprocess.run(["/bin/sh", "-c", '"$@" &', "sh", sys.executable, "-m",
                                "core.engine", "--home", str(self.paths.home)],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                               cwd=str(self.paths.home), start_new_session=True, check=True,
                               pass_fds=(told,))
        except OSError as exc:
            os.close(ready)
            raise StoreError(f"cannot start the engine in {self.paths.home}: "
                             f"{exc.strerror or exc}", hint=_store_hint(exc)) from None
        finally:
            os.close(told)
        return ready


class LineReader:
    """The lines a socket receives, as io.BufferedReader.readline reads them: each ends with
    a newline, or is cut at `limit` bytes, or is what came before the peer closed (b"":
    closed, nothing left)."""

    def __init__(self, sock: socket):
        self._sock = sock
        self._buffer = bytearray()

    def readline(self, limit: int) -> bytes:
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched, limit)
            if end >= 0:
                size = end + 1
                break
            if len(self._buffer) >= limit:
                size = limit
                break
            searched = len(self._buffer)
            chunk = self._sock.recv(65536)
            if not chunk:
                size = len(self._buffer)
                break
            self._buffer += chunk
        line = bytes(self._buffer[:size])
        del self._buffer[:size]
        return line


def engine_pid(paths: StorePaths) -> int | None:
    """The pid the live engine wrote into engine.json, if it can be read."""
    try:
        return int(json.loads(paths.engine_info.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_hint(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the store is on a read-only file system; point RUNYARD_HOME at a writable folder"
    if exc.errno == errno.ENOSPC:
        return "free some space, or move the store with RUNYARD_HOME"
    return "check the store folder's owner and permissions, or point RUNYARD_HOME elsewhere"


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("; last lines:\n  " + "\n  ".join(text)) if text else ""
