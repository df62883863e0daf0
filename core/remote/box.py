"""One box reached over SSH: a single shared asyncssh connection that comes back by itself.

Every run on a box, its output mirror and its code transfers share one connection; at
most MAX_SESSIONS commands run on it at once (OpenSSH allows 10 per connection). When
the connection drops (network cut, sshd restarted, laptop asleep) and someone still needs
the box (`want()`), it is opened again with backoff (BACKOFF seconds, then every 30 s).
Keepalives find a dead peer that sends nothing; every remote command has a time limit,
and a command that times out drops the connection, so nothing waits forever.

Errors (core.remote.failures): `BoxUnreachable` (network trouble; waiting may fix it,
`transient = True`) and `BoxError` (host key, login refused, work folder: someone must act).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Callable

from core.errors import ExecutorError
from core.remote import scripts
from core.remote.failures import BoxError, BoxUnreachable, classify, describe
from core.remote.settings import SshSettings

if TYPE_CHECKING:
    import asyncssh  # lazy: see core/remote/__init__.py

log = logging.getLogger("runyard.remote")

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
MAX_SESSIONS = 8
KEEPALIVE_COUNT = 3
WANTED_AFTER_FAILURE = 3600.0      # keep reconnecting this long for queued runs


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def reply(self, *words: str) -> str:
        """The first line starting with one of `words` (a login shell may print other lines
        first, from the box's rc files); "" if none."""
        for line in self.text().splitlines():
            if line.split(" ", 1)[0] in words:
                return line
        return ""

    def error_text(self, limit: int = 300) -> str:
        return self.stderr.decode("utf-8", "replace").strip()[-limit:]


@dataclass(frozen=True)
class Facts:
    """What the probe learned about the box after logging in."""

    work: str             # the work folder, absolute
    has_tar: bool
    has_setsid: bool
    has_gzip: bool
    helper: str           # installed file names in work/bin
    wrapper: str


class Box:
    def __init__(self, settings: SshSettings, work_dir: str):
        logging.getLogger("asyncssh").setLevel(logging.WARNING)    # one line per channel is noise
        self.settings = settings
        self.work_dir = work_dir
        self.state = "idle"                 # idle, ok, unreachable, error
        self.message: str | None = None
        self.facts: Facts | None = None
        self.connections_made = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.locks: dict[str, asyncio.Lock] = {}     # per snapshot being sent
        # What this engine saw on the box (sent or confirmed); checked again when wrong.
        self.known_blobs: set[str] = set()
        self.known_snapshots: set[str] = set()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._attempt: asyncio.Task | None = None
        self._retry: asyncio.Task | None = None
        self._up = asyncio.Event()
        self._sessions = asyncio.Semaphore(MAX_SESSIONS)
        self._listeners: list[Callable[[str, str | None], None]] = []
        self._demand = 0
        self._wanted_until = 0.0
        self._failures = 0

    @property
    def label(self) -> str:
        return self.settings.label

    @property
    def connected(self) -> bool:
        return self._conn is not None

    # ------------------------------------------------------------ health

    def listen(self, callback: Callable[[str, str | None], None]) -> None:
        self._listeners.append(callback)

    def unlisten(self, callback) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _set(self, state: str, message: str | None) -> None:
        if (state, message) == (self.state, self.message):
            return
        self.state, self.message = state, message
        log.info("box %s: %s%s", self.label, state, f" ({message})" if message else "")
        for callback in list(self._listeners):
            callback(state, message)

    # ------------------------------------------------------------ wanting the box

    def want(self) -> None:
        """Someone needs the box (a run is watched): reconnect whenever it drops."""
        self._demand += 1
        if self._conn is None and self.state != "idle":
            self._ensure_retry()

    def unwant(self) -> None:
        self._demand = max(0, self._demand - 1)

    def keep_trying(self) -> None:
        """Runs wait for this box: keep trying to reach it for a while, with backoff."""
        self._wanted_until = time.monotonic() + WANTED_AFTER_FAILURE
        if self._conn is None:
            self._ensure_retry()

    def _wanted(self) -> bool:
        return self._demand > 0 or time.monotonic() < self._wanted_until

    async def wait_up(self):
        """Wait (as long as it takes) until the box is connected again."""
        self._demand += 1
        try:
            while self._conn is None:
                self._ensure_retry()
                await self._up.wait()
            return self._conn
        finally:
            self._demand -= 1

    def _ensure_retry(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(
                self._retry_loop(), name=f"reconnect {self.label}")

    async def _retry_loop(self) -> None:
        while self._conn is None and self._wanted():
            try:
                await self.connect()
                return
            except ExecutorError:
                delay = BACKOFF[min(max(self._failures - 1, 0), len(BACKOFF) - 1)]
            except Exception:  # a bug here must not end the reconnecting for good
                log.exception("box %s: reconnecting failed", self.label)
                delay = BACKOFF[-1]
            await asyncio.sleep(delay)

    # ------------------------------------------------------------ connecting

    async def connect(self):
        """The connection, opening it if needed; concurrent callers share one attempt."""
        if self._conn is not None:
            return self._conn
        if self._attempt is None or self._attempt.done():
            self._attempt = asyncio.get_running_loop().create_task(self._open())
            self._attempt.add_done_callback(_retrieve)
        return await asyncio.shield(self._attempt)

    async def ready(self) -> Facts:
        await self.connect()
        return self.reached

    @property
    def reached(self) -> Facts:
        """What the box said of itself when it was last reached (work folder, helper, tools);
        asked for only once it has been (a run or job on it exists)."""
        if self.facts is None:
            raise BoxError(f"{self.label}: not reached yet", target=self.label, transient=True)
        return self.facts

    async def _open(self):
        import asyncssh  # lazy: see core/remote/__init__.py
        try:
            options = await asyncio.to_thread(self._options)
        except (ValueError, OSError, asyncssh.Error) as exc:
            raise self._fail(BoxError(f"{self.label}: cannot use its SSH settings: {exc}",
                                      hint="check the ssh config and key files it names")
                             ) from None
        if options.known_hosts is None:
            raise self._fail(BoxError(
                f"{self.label}: the ssh config turns host key checking off "
                "(UserKnownHostsFile none); runyard always checks host keys",
                hint="remove that line for this host, or set known_hosts in the target"))
        config = [self.settings.ssh_config] if self.settings.ssh_config else ()
        try:
            conn = await asyncio.wait_for(
                asyncssh.connect(self.settings.host, config=config, options=options,
                                 client_factory=lambda: _client(self)),
                self.settings.connect_timeout + 5)
        except Exception as exc:  # every failure to connect is classified and reported
            raise self._fail(classify(exc, options, self.settings)) from None
        try:
            facts = await self._probe(conn)
        except ExecutorError as exc:
            conn.close()
            raise self._fail(exc) from None
        self._conn, self.facts = conn, facts
        self._failures = 0
        self.connections_made += 1
        self._wanted_until = 0.0
        self._up.set()
        self._set("ok", None)
        return conn

    def _options(self):
        import asyncssh  # lazy: see core/remote/__init__.py
        s = self.settings
        kwargs: dict = {"host": s.host, "connect_timeout": s.connect_timeout,
                        "login_timeout": s.connect_timeout, "keepalive_interval": s.keepalive,
                        "keepalive_count_max": KEEPALIVE_COUNT}
        if s.ssh_config:
            kwargs["config"] = [s.ssh_config]
        if s.user:
            kwargs["username"] = s.user
        if s.port:
            kwargs["port"] = s.port
        if s.known_hosts:
            kwargs["known_hosts"] = s.known_hosts
        if s.identity_files:
            kwargs["client_keys"] = list(s.identity_files)
        return asyncssh.SSHClientConnectionOptions(**kwargs)

    def _fail(self, error: ExecutorError) -> ExecutorError:
        error.target = error.target or self.label
        self._failures += 1
        self._set("unreachable" if error.transient else "error", error.message)
        if self._wanted():
            self._ensure_retry()
        return error

    async def _probe(self, conn) -> Facts:
        import asyncssh  # lazy: see core/remote/__init__.py
        try:
            result = await asyncio.wait_for(
                conn.run("sh -s", input=scripts.probe(self.work_dir).encode(), encoding=None),
                self.settings.command_timeout)
        except (asyncio.TimeoutError, asyncssh.Error, OSError) as exc:
            raise BoxUnreachable(f"{self.label}: the box did not answer after login: "
                                 f"{describe(exc)}") from None
        if result.returncode is None or conn.is_closed():
            raise BoxUnreachable(f"{self.label}: the connection closed during login")
        lines = (result.stdout or b"").decode("utf-8", "replace").splitlines()
        found = {line.split(" ", 1)[0]: line.split(" ", 1)[1] if " " in line else ""
                 for line in lines}
        if "ERR" in found:
            raise BoxError(f"{self.label}: {found['ERR']}",
                           hint=f"set work_dir of this target to a folder that can be created "
                                f"on the box (now {self.work_dir!r})")
        if scripts.PROBE_OK not in found or "WORK" not in found:
            error = (result.stderr or b"").decode("utf-8", "replace").strip()[-300:]
            raise BoxError(f"{self.label}: the box's shell did not run runyard's probe "
                           f"(exit {result.returncode}): {error or 'no output'}",
                           hint="the box needs a POSIX sh on PATH")
        has = {line[4:] for line in lines if line.startswith("HAS ")}
        return Facts(work=found["WORK"], has_tar="tar" in has, has_setsid="setsid" in has,
                     has_gzip="gzip" in has,
                     helper=scripts.installed_name(scripts.HELPER),
                     wrapper=scripts.installed_name(scripts.WRAPPER))

    # ------------------------------------------------------------ losing it

    def drop(self, conn, reason: str, in_use: bool = False) -> None:
        """Give up on a connection that stopped answering; it is opened again when needed.
        `in_use`: a command was waiting on it (and just failed), so the box is unreachable
        (not idle) even when no run is watched there."""
        if conn is not self._conn:
            if in_use and self._conn is None and self.state == "idle":
                # Its loss was noticed first (and, nobody waiting, called idle); the
                # operation that just failed on it says the box is out of reach.
                self._set("unreachable", f"{self.label}: {reason}")
            return
        self._conn = None
        self._up.clear()
        if conn is not None:
            conn.abort()
        if in_use or self._wanted():
            self._set("unreachable", f"{self.label}: {reason}")
            self._ensure_retry()
        else:
            self._set("idle", None)          # nobody needs it now; opened again on demand

    def _lost(self, conn, exc: BaseException | None) -> None:
        if conn is not self._conn:
            return
        self.drop(conn, f"connection lost ({describe(exc) if exc else 'closed by the box'})")

    async def close(self) -> None:
        for task in (self._retry, self._attempt):
            if task is not None and not task.done():
                task.cancel()
        conn, self._conn = self._conn, None
        self._up.clear()
        if conn is not None:
            conn.close()
            await conn.wait_closed()
        self._set("idle", None)

    # ------------------------------------------------------------ running commands

    async def script(self, text: str, *, what: str, timeout: float | None = None) -> Completed:
        """Run a POSIX sh script (given on stdin, so any login shell works)."""
        return await self.run("sh -s", input=text.encode(), what=what, timeout=timeout)

    async def run(self, command: str, *, what: str, input: bytes | None = None,
                  timeout: float | None = None) -> Completed:
        import asyncssh  # lazy: see core/remote/__init__.py
        conn = await self.connect()
        limit = timeout or self.settings.command_timeout
        async with self._sessions:
            try:
                result = await asyncio.wait_for(
                    conn.run(command, input=input, encoding=None), limit)
            except asyncio.TimeoutError:
                self.drop(conn, f"no answer within {limit:.0f} s while {what}", in_use=True)
                raise BoxUnreachable(f"{self.label}: no answer within {limit:.0f} s while "
                                     f"{what}", target=self.label) from None
            except (asyncssh.Error, OSError) as exc:
                raise self._broken(conn, exc, what) from None
        self.bytes_sent += len(command) + len(input or b"")
        self.bytes_received += len(result.stdout or b"") + len(result.stderr or b"")
        if result.returncode is None or (result.exit_signal and conn.is_closed()):
            raise self._broken(conn, None, what)
        return Completed(result.returncode, result.stdout or b"", result.stderr or b"")

    async def send(self, command: str, chunks: AsyncIterator[bytes], *, what: str) -> Completed:
        """Run a command with a stream on its stdin; no progress for command_timeout = lost."""
        import asyncssh  # lazy: see core/remote/__init__.py
        conn = await self.connect()
        limit = self.settings.command_timeout
        async with self._sessions:
            try:
                process = await asyncio.wait_for(conn.create_process(command, encoding=None),
                                                 limit)
                try:
                    async for chunk in chunks:
                        process.stdin.write(chunk)
                        await asyncio.wait_for(process.stdin.drain(), limit)
                        self.bytes_sent += len(chunk)
                    process.stdin.write_eof()
                except (BrokenPipeError, ConnectionResetError):
                    if conn.is_closed():
                        raise
                    # The command stopped reading (it failed): its status and stderr say why.
                result = await asyncio.wait_for(process.wait(), limit)
            except asyncio.TimeoutError:
                raise self._stalled(conn, limit, what) from None
            except (asyncssh.Error, OSError) as exc:
                raise self._broken(conn, exc, what) from None
        self.bytes_received += len(result.stdout or b"") + len(result.stderr or b"")
        if result.returncode is None:
            raise self._broken(conn, None, what)
        return Completed(result.returncode, result.stdout or b"", result.stderr or b"")

    async def receive(self, script: str, *, what: str,
                      chunk: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """Run a POSIX sh script and yield its stdout as it arrives (no more than `chunk` at a
        time, so a large download never sits in memory); no progress for command_timeout =
        lost. A non-zero exit after the last chunk raises BoxError with its stderr."""
        import asyncssh  # lazy: see core/remote/__init__.py
        conn = await self.connect()
        limit = self.settings.command_timeout
        async with self._sessions:
            try:
                process = await asyncio.wait_for(conn.create_process("sh -s", encoding=None),
                                                 limit)
                try:
                    process.stdin.write(script.encode())
                    process.stdin.write_eof()
                    self.bytes_sent += len(script)
                    while data := await asyncio.wait_for(process.stdout.read(chunk), limit):
                        self.bytes_received += len(data)
                        yield data
                    result = await asyncio.wait_for(process.wait(), limit)
                finally:
                    process.close()
            except asyncio.TimeoutError:
                raise self._stalled(conn, limit, what) from None
            except (asyncssh.Error, OSError) as exc:
                raise self._broken(conn, exc, what) from None
        if result.returncode is None:
            raise self._broken(conn, None, what)
        if result.returncode != 0:
            error = (result.stderr or b"").decode("utf-8", "replace").strip()[-300:]
            raise BoxError(f"{self.label}: {what} failed (exit {result.returncode}): "
                           f"{error or 'no message'}", target=self.label)

    def _stalled(self, conn, limit: float, what: str) -> BoxUnreachable:
        self.drop(conn, f"no progress for {limit:.0f} s while {what}", in_use=True)
        return BoxUnreachable(f"{self.label}: no progress for {limit:.0f} s while {what}",
                              target=self.label)

    def _broken(self, conn, exc: BaseException | None, what: str) -> ExecutorError:
        import asyncssh  # lazy: see core/remote/__init__.py
        if isinstance(exc, asyncssh.ChannelOpenError) and not conn.is_closed():
            return BoxError(f"{self.label}: the box refused a session while {what}: "
                            f"{exc.reason}", target=self.label)
        detail = describe(exc) if exc else "the connection closed"
        self.drop(conn, f"connection lost while {what} ({detail})", in_use=True)
        return BoxUnreachable(f"{self.label}: connection lost while {what} ({detail})",
                              target=self.label)


def _client(box: Box):
    """An asyncssh client object that tells the box when its connection is lost."""
    import asyncssh  # lazy: see core/remote/__init__.py

    class Client(asyncssh.SSHClient):
        def connection_made(self, conn) -> None:
            self.conn = conn

        def connection_lost(self, exc) -> None:
            box._lost(self.conn, exc)

    return Client()


def _retrieve(task: asyncio.Task) -> None:
    """Mark a shared attempt's failure as seen (each awaiting caller gets it too)."""
    if not task.cancelled():
        task.exception()
