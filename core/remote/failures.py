"""Why a box cannot be used: errors that say so, naming the box and what to do about it."""

from __future__ import annotations

import asyncio
import socket

from core.errors import ExecutorError
from core.remote.hostkeys import host_key_error
from core.remote.settings import SshSettings


class BoxError(ExecutorError):
    """The box turned us away for a reason that waiting will not fix (never transient)."""

    cache_was_used = False      # set by code transfer: what the engine knew may be stale


class BoxUnreachable(ExecutorError):
    """The box cannot be reached right now (transient); it is tried again with backoff."""

    def __init__(self, message: str, *, target: str = "", hint: str | None = None):
        super().__init__(message, target=target, transient=True, hint=hint)


def classify(exc: BaseException, options, settings: SshSettings) -> ExecutorError:
    """The error for a failed connection attempt: transient (network) or not (keys, login)."""
    import asyncssh  # lazy: see core/remote/__init__.py
    label = settings.label
    where = f"{options.username}@{options.host}:{options.port or 22}"
    check = f"{settings.ssh_command} true"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return host_key_error(label, settings.ssh_command, options, BoxError)
    if isinstance(exc, asyncssh.PermissionDenied):
        return BoxError(f"{label}: {where} refused the login",
                        hint="check identity_file (or IdentityFile in the ssh config) and "
                             f"the box's authorized_keys; try: {check}")
    if isinstance(exc, socket.gaierror):
        return BoxError(f"{label}: cannot resolve the host name {options.host!r}",
                        hint="check host, or the HostName in the ssh config")
    if isinstance(exc, ConnectionRefusedError):
        return BoxUnreachable(f"{label}: {where} refused the connection (is sshd running?)",
                              hint=f"try: {check}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return BoxUnreachable(f"{label}: no answer from {where} within "
                              f"{settings.connect_timeout:.0f} s",
                              hint=f"check the network; try: {check}")
    if isinstance(exc, (OSError, asyncssh.Error)):
        return BoxUnreachable(f"{label}: cannot connect to {where}: {describe(exc)}",
                              hint=f"try: {check}")
    return BoxError(f"{label}: cannot connect to {where}: {exc!r}")


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text
