"""Connections to Docker engines: a unix socket, TCP, or a socket on an SSH host.

aiodocker speaks HTTP over a unix socket or TCP. For `ssh://` this module logs in with
asyncssh (which honours ~/.ssh/config and verifies host keys against known_hosts) and
forwards a private local unix socket to the engine's socket on that host, so the remote
machine needs sshd and Docker, nothing else. aiodocker and asyncssh are imported here,
only when a docker target is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from core.errors import ExecutorError
from core.executors.docker.options import Endpoint

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("runyard.engine")

CONNECT_TIMEOUT = 15.0      # seconds to reach an engine (or log in over SSH)
REQUEST_TIMEOUT = 120.0     # seconds for one ordinary API request (not logs, wait or stop)


def unreachable(exc: BaseException) -> bool:
    """Whether an error means the engine could not be reached (as opposed to refused)."""
    if isinstance(exc, DockerError):
        return exc.status == 900          # aiodocker's "cannot connect"
    return isinstance(exc, (OSError, asyncio.TimeoutError, aiohttp.ClientError,
                            _ssh_error_types()))


def _ssh_error_types() -> tuple[type, ...]:
    """asyncssh's errors, if an engine was reached over SSH (else asyncssh is not loaded
    and none of its errors can have been raised)."""
    asyncssh = sys.modules.get("asyncssh")
    return (asyncssh.Error,) if asyncssh is not None else ()


class DockerConnection:
    """One Docker engine, opened on first use and reopened after it was lost.

    It remembers whether the engine answered last time (`down`: why not, else None; and
    `failed_at`, when it last did not) and calls `on_change` after each failure and when
    the engine answers again, so the target's health follows the engine.
    """

    def __init__(self, endpoint: Endpoint, target: str,
                 on_change: Callable[[], None] | None = None):
        self.endpoint = endpoint
        self.target = target
        self.on_change = on_change
        self.down: str | None = None
        self.failed_at = 0.0
        self._docker: aiodocker.Docker | None = None
        self._connector: aiohttp.BaseConnector | None = None
        self._ssh: asyncssh.SSHClientConnection | None = None
        self._socket_dir: str | None = None
        self._lock = asyncio.Lock()

    async def client(self):
        """The aiodocker client; raises ExecutorError when the engine cannot be reached."""
        async with self._lock:
            if self._docker is None:
                try:
                    self._docker = await asyncio.wait_for(self._open(), CONNECT_TIMEOUT + 5)
                except ExecutorError as exc:
                    await self._close_transport()
                    self._mark(exc.message if exc.transient else None)
                    raise
                except Exception as exc:
                    await self._close_transport()
                    if not unreachable(exc):
                        raise
                    error = self.error(exc)
                    self._mark(error.message)
                    raise error from None
            self._mark(None)
            return self._docker

    def error(self, exc: BaseException) -> ExecutorError:
        """The engine could not be reached: transient, waiting may bring it back."""
        detail = exc.message if isinstance(exc, ExecutorError) else \
            str(exc) or type(exc).__name__
        return ExecutorError(f"cannot reach the Docker engine at {self.endpoint.url}: {detail}",
                             target=self.target, transient=True,
                             hint="start Docker there, or fix the target's host "
                                  "(or DOCKER_HOST)")

    async def lost(self, exc: BaseException) -> ExecutorError:
        """A request found the engine gone: forget the connection; the error to raise."""
        await self.reset()
        error = self.error(exc)
        self._mark(error.message)
        return error

    def _mark(self, down: str | None) -> None:
        if down is None and self.down is None:
            return
        self.down = down
        if down is not None:
            self.failed_at = time.monotonic()
        if self.on_change is not None:
            self.on_change()

    async def _open(self):
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT,
                                        sock_connect=CONNECT_TIMEOUT)
        endpoint = self.endpoint
        connector: aiohttp.BaseConnector
        if endpoint.scheme == "tcp":
            connector = aiohttp.TCPConnector(limit=0)
            url = f"http://{endpoint.host}:{endpoint.port}"
        else:
            path = endpoint.path if endpoint.scheme == "unix" else await self._forward()
            assert path is not None, "a unix or ssh endpoint names its socket (options.py)"
            connector = aiohttp.UnixConnector(path, limit=0)
            url = "unix://localhost"
        self._connector = connector           # ours to close: aiodocker leaves a given one open
        docker = aiodocker.Docker(url=url, connector=connector, timeout=timeout)
        try:
            await docker.version()             # fails fast when nothing listens
        except BaseException:
            await docker.close()
            raise
        return docker

    async def _forward(self) -> str:
        """Log in over SSH and forward a private local socket to the engine's socket."""
        import asyncssh      # lazy: ~130 ms, only for an engine reached over SSH
        endpoint = self.endpoint
        options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "keepalive_interval": 30}
        if endpoint.user:
            options["username"] = endpoint.user
        if endpoint.port:
            options["port"] = endpoint.port
        try:
            ssh = self._ssh = await asyncssh.connect(endpoint.host, **options)
        except (OSError, asyncssh.Error) as exc:
            raise ExecutorError(
                f"cannot log in to {endpoint.host} over SSH for the Docker engine at "
                f"{endpoint.url}: {exc}", target=self.target,
                transient=isinstance(exc, OSError),        # refused or timed out: may pass
                hint="check `ssh HOST` works without a password (keys, known_hosts, "
                     "~/.ssh/config)") from None
        self._socket_dir = tempfile.mkdtemp(prefix="runyard-docker-")
        local = os.path.join(self._socket_dir, "docker.sock")
        await ssh.forward_local_path(local, endpoint.path)
        return local

    async def reset(self) -> None:
        """Forget a connection that failed; the next `client()` opens a new one."""
        async with self._lock:
            await self._close_transport()

    async def close(self) -> None:
        await self.reset()

    async def _close_transport(self) -> None:
        docker, self._docker = self._docker, None
        if docker is not None:
            await docker.close()
        connector, self._connector = self._connector, None
        if connector is not None:
            await connector.close()
        ssh, self._ssh = self._ssh, None
        if ssh is not None:
            ssh.close()
            await ssh.wait_closed()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
