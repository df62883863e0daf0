"""How to reach a box: the SSH keys of a target's config, checked, and their parsed form.

`host` is an alias of the OpenSSH client config (HostName, User, Port, IdentityFile,
ProxyJump and UserKnownHostsFile are honoured) or a full `[user@]host[:port]`. The other
keys override or add to what that config says. Every key is checked with an error that
names the file, the key and what was expected (as core.config does).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.config import fail, non_negative_number, positive_int
from core.errors import ConfigError

DEFAULT_WORK_DIR = "~/.runyard"
DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_COMMAND_TIMEOUT = 60.0
DEFAULT_KEEPALIVE = 15.0

# What a work_dir may contain: it is written into shell commands without quoting.
_SAFE_PATH = re.compile(r"^(~|~/[A-Za-z0-9._/@+-]*|/[A-Za-z0-9._/@+-]*)$")
_HOST = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:\s\[\]]+)"
                   r"(?::(?P<port>\d+))?$")

SSH_KEYS = {
    "host": "an ssh config alias or [user@]host[:port]",
    "user": "the login name (overrides the ssh config's User)",
    "port": "the port (overrides the ssh config's Port)",
    "ssh_config": "an OpenSSH client config file (default ~/.ssh/config)",
    "known_hosts": "a known_hosts file (default: the ssh config's UserKnownHostsFile, "
                   "else ~/.ssh/known_hosts)",
    "identity_file": "a private key file, or a list of them",
    "connect_timeout": "seconds to connect and log in",
    "command_timeout": "seconds any one remote operation may take",
    "keepalive": "seconds between keepalive probes (3 unanswered = connection lost)",
}


@dataclass(frozen=True)
class SshSettings:
    """Everything needed to open a connection to one box. Hashable: boxes are shared by it."""

    host: str
    user: str | None = None
    port: int | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None
    identity_files: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    keepalive: float = DEFAULT_KEEPALIVE

    @classmethod
    def from_options(cls, options: dict) -> "SshSettings":
        """From the options `check_ssh_options` returned (as stored with the target)."""
        user, host, port = split_host(options["host"])
        return cls(host=host, user=options.get("user", user), port=options.get("port", port),
                   ssh_config=options.get("ssh_config"), known_hosts=options.get("known_hosts"),
                   identity_files=tuple(options.get("identity_file", ())),
                   connect_timeout=float(options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)),
                   command_timeout=float(options.get("command_timeout", DEFAULT_COMMAND_TIMEOUT)),
                   keepalive=float(options.get("keepalive", DEFAULT_KEEPALIVE)))

    @property
    def label(self) -> str:
        """The box as the user wrote it, for messages: `gpu-box-1`, `me@10.0.0.5:2222`."""
        text = f"{self.user}@{self.host}" if self.user else self.host
        return f"{text}:{self.port}" if self.port else text

    @property
    def ssh_command(self) -> str:
        """How to reach the box with OpenSSH's own client, for hints."""
        text = f"{self.user}@{self.host}" if self.user else self.host
        config = f" -F {self.ssh_config}" if self.ssh_config else ""
        return f"ssh{config}{f' -p {self.port}' if self.port else ''} {text}"


def split_host(text: str) -> tuple[str | None, str, int | None]:
    """`me@box:2222` -> ("me", "box", 2222); `[::1]:22` -> (None, "::1", 22)."""
    match = _HOST.match(text)
    if match is None:
        raise ValueError(text)
    host = match["host"]
    if host.startswith("["):
        host = host[1:-1]
    return match["user"], host, int(match["port"]) if match["port"] else None


def check_ssh_options(path: Path, where: str, options: dict, extra: dict[str, str] | None = None,
                      require_host: bool = True) -> dict:
    """Check the SSH keys of a target; `extra` names the kind's own keys (checked elsewhere)."""
    allowed = {**SSH_KEYS, **(extra or {})}
    for key in options:
        if key not in allowed:
            raise ConfigError(f"{path}: {where}.{key}: unknown key",
                              hint="allowed here: kind, max_parallel, gpus, gpu_share, "
                                   + ", ".join(sorted(allowed)))
    out = dict(options)
    if "host" not in options:
        if require_host:
            raise ConfigError(f"{path}: {where}.host: missing",
                              hint='name the box, e.g. host = "gpu-box-1" (an alias from '
                                   '~/.ssh/config) or host = "me@10.0.0.5:22"')
        return out
    host = options["host"]
    if not isinstance(host, str) or not host.strip():
        raise fail(path, f"{where}.host", "an ssh config alias or [user@]host[:port]", host)
    try:
        _user, _host, port = split_host(host.strip())
    except ValueError:
        raise fail(path, f"{where}.host", "an ssh config alias or [user@]host[:port]",
                   host) from None
    if port is not None and not 0 < port < 65536:
        raise fail(path, f"{where}.host", "a port between 1 and 65535", host)
    out["host"] = host.strip()
    if "user" in options and (not isinstance(options["user"], str) or not options["user"]
                              or re.search(r"[\s@:]", options["user"])):
        raise fail(path, f"{where}.user", "a login name", options["user"])
    if "port" in options:
        port = positive_int(path, f"{where}.port", options["port"])
        if port > 65535:
            raise fail(path, f"{where}.port", "a port between 1 and 65535", port)
    for key in ("ssh_config", "known_hosts"):
        if key in options:
            out[key] = _existing_file(path, f"{where}.{key}", options[key])
    if "identity_file" in options:
        value = options["identity_file"]
        files = [value] if isinstance(value, str) else value
        if not isinstance(files, list) or not files:
            raise fail(path, f"{where}.identity_file", "a key file or a list of key files", value)
        out["identity_file"] = [_existing_file(path, f"{where}.identity_file", f) for f in files]
    for key in ("connect_timeout", "command_timeout", "keepalive"):
        if key in options:
            seconds = non_negative_number(path, f"{where}.{key}", options[key])
            if seconds == 0:
                raise fail(path, f"{where}.{key}", "a number of seconds above 0", options[key])
            out[key] = seconds
    return out


def check_work_dir(path: Path, key: str, value) -> str:
    """A remote folder: absolute or under ~, with characters safe in any shell."""
    if not isinstance(value, str) or not _SAFE_PATH.match(value) or "/../" in value + "/":
        raise fail(path, key, "a remote folder such as \"~/.runyard\" or \"/scratch/me/runyard\" "
                              "(letters, digits and ._/@+- only)", value)
    return value.rstrip("/") or "/"


def _existing_file(path: Path, key: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise fail(path, key, "a file path", value)
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.dirname(os.path.abspath(path)), expanded)
    if not os.path.isfile(expanded):
        raise ConfigError(f"{path}: {key}: expected an existing file, got {value!r} "
                          f"({expanded} does not exist)")
    return expanded
