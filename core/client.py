"""Talking to the engine from the CLI and the app: blocking, small, and starting it on demand.

No asyncio here: a CLI call is one short request, and importing asyncio costs more than
the request itself.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from core import protocol
from core.errors import EngineError, RunyardError
from core.paths import StorePaths

TYPE_CHECKING = False       # only a type here; `tui status` imports this module without it
if TYPE_CHECKING:
    from core.requests import Request

START_TIMEOUT = 30.0
_RETRYABLE = (ConnectionRefusedError, FileNotFoundError, ConnectionResetError,
              BrokenPipeError)


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
    def __init__(self, paths: StorePaths):
        self.paths = paths

    # ------------------------------------------------------------ requests

    def request(self, request: Request, *, start: bool = True) -> dict:
        """Send one request and return the final reply; raise the engine's error as ours."""
        for reply in self.stream(request, start=start):
            if "event" not in reply:
                return reply
        raise EngineError("the engine closed the connection without a reply")

    def stream(self, request: Request, *, start: bool = True, timeout: float | None = None):
        """Yield every line the engine sends for this request (events, then the reply).

        With `timeout`, a reply slower than that raises `socket.timeout`.
        """
        sock = self._connect(start)
        sock.settimeout(timeout)
        try:
            sock.sendall(protocol.encode(request.message()))
            reader = sock.makefile("rb")
            while True:
                line = reader.readline(protocol.MAX_LINE)
                if not line:
                    raise EngineError("the engine closed the connection before replying",
                                      hint=f"see {self.paths.engine_log}")
                reply = protocol.decode(line)
                if reply.get("ok") is False:
                    raise RunyardError.from_dict(reply.get("error") or {})
                yield reply
                if "event" not in reply:
                    return
        finally:
            sock.close()

    def _connect(self, start: bool) -> socket.socket:
        try:
            return self._open_socket()
        except _RETRYABLE:
            if not start:
                raise EngineError("the engine is not running",
                                  hint="it starts with the next `tui launch`") from None
        self.start()
        return self._open_socket()

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.paths.socket))
        except OSError:
            sock.close()
            raise
        return sock

    # ------------------------------------------------------------ starting the engine

    def start(self) -> None:
        """Start the engine detached from this terminal, unless one is up; wait until it answers."""
        self.paths.ensure()
        with open(self.paths.spawn_lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._answers():
                return
            self._spawn()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self._answers():
                    return
                time.sleep(0.02)
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

    def _spawn(self) -> None:
        import subprocess    # lazy: ~1.6 ms that `tui status` skips unless an engine starts
        source_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
        env["RUNYARD_HOME"] = str(self.paths.home)
        with open(self.paths.engine_log, "ab") as log:
            # `sh -c '"$@" &'` leaves the engine an orphan (adopted by init), so a
            # long-lived client like the app never has to reap it.
            subprocess.run(["/bin/sh", "-c", '"$@" &', "sh", sys.executable, "-m", "core.engine",
                            "--home", str(self.paths.home)],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                           cwd=str(self.paths.home), start_new_session=True, check=True)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("; last lines:\n  " + "\n  ".join(text)) if text else ""
