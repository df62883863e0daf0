"""The settings of a docker target, checked like every config key (file, key, expectation).

    [targets.gpu-docker]
    kind = "docker"
    image = "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime"   # required
    host = "ssh://me@gpu-box"    # default: $DOCKER_HOST of the engine, else the local socket
    gpus = [0, 1]                # common key; docker also takes "all" or a count
    mounts = ["/data:/data:ro"]  # docker -v syntax, on the Docker engine's machine
    env = { HF_HOME = "/data/hf" }
    network = "host"             # docker --network
    user = "1000:1000"           # docker --user
    shm_size = "8GB"             # docker --shm-size
    keep = false                 # keep containers after they end
    pull = "missing"             # missing, never or always
    init = true                  # docker --init: signals reach the command, orphans are reaped
    code = "mount"               # mount (local engine) or copy; default by host
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.config import byte_size, fail, string, string_list, string_table
from core.errors import ConfigError

DEFAULT_SOCKET = "/var/run/docker.sock"
PULL_POLICIES = ("missing", "never", "always")
CODE_MODES = ("mount", "copy")
_KEYS = {"image", "host", "mounts", "env", "network", "user", "shm_size", "keep", "pull", "init",
         "code"}
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Endpoint:
    """Where a Docker engine listens: a unix socket, TCP, or a socket on an SSH host."""

    url: str                  # as written, for messages
    scheme: str               # "unix", "tcp" or "ssh"
    path: str | None = None   # the socket: local (unix) or on the SSH host (ssh)
    host: str | None = None
    port: int | None = None
    user: str | None = None

    @property
    def local(self) -> bool:
        """Whether the engine shares this machine's files (bind mounts work)."""
        return self.scheme == "unix"


def parse_host(text: str) -> Endpoint:
    """`unix:///path`, `tcp://host:port` (or http://) or `ssh://[user@]host[:port][/socket]`.

    Raises ValueError naming what was expected.
    """
    expected = ('a Docker engine address: "unix:///var/run/docker.sock", "tcp://HOST:PORT" or '
                '"ssh://[USER@]HOST[:PORT][/SOCKET]"')
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme == "unix" and parts.path.startswith("/") and not parts.netloc:
        return Endpoint(url=text, scheme="unix", path=parts.path)
    if parts.scheme in ("tcp", "http") and parts.hostname and port and parts.path in ("", "/"):
        return Endpoint(url=text, scheme="tcp", host=parts.hostname, port=port)
    if parts.scheme == "ssh" and parts.hostname:
        return Endpoint(url=text, scheme="ssh", host=parts.hostname, port=port,
                        user=parts.username, path=parts.path or DEFAULT_SOCKET)
    raise ValueError(expected)


def check_options(path: Path, where: str, options: dict) -> dict:
    """Check the docker-only keys of a target; return them normalised (JSON-able)."""
    for key in options:
        if key not in _KEYS:
            raise ConfigError(f"{path}: {where}.{key}: unknown key",
                              hint="docker targets take kind, max_parallel, gpus, gpu_share, "
                                   + ", ".join(sorted(_KEYS)))
    if "image" not in options:
        raise ConfigError(f"{path}: {where}.image: missing",
                          hint='docker targets need an image, e.g. image = "python:3.11-slim"')
    out: dict[str, Any] = {"image": string(path, f"{where}.image", options["image"])}
    if "host" in options:
        host = string(path, f"{where}.host", options["host"])
        try:
            parse_host(host)
        except ValueError as exc:
            raise fail(path, f"{where}.host", str(exc), host) from None
        out["host"] = host
    out["mounts"] = [_mount(path, f"{where}.mounts[{i}]", m) for i, m in
                     enumerate(string_list(path, f"{where}.mounts", options.get("mounts", [])))]
    out["env"] = string_table(path, f"{where}.env", options.get("env", {}))
    for key in ("network", "user"):
        if key in options:
            out[key] = string(path, f"{where}.{key}", options[key])
    if "shm_size" in options:
        out["shm_size"] = byte_size(path, f"{where}.shm_size", options["shm_size"])
    for key, default in (("keep", False), ("init", True)):
        value = options.get(key, default)
        if not isinstance(value, bool):
            raise fail(path, f"{where}.{key}", "true or false", value)
        out[key] = value
    out["pull"] = _choice(path, f"{where}.pull", options.get("pull", "missing"), PULL_POLICIES)
    if "code" in options:
        out["code"] = _choice(path, f"{where}.code", options["code"], CODE_MODES)
    if out.get("code") == "mount" and "host" in out and not parse_host(out["host"]).local:
        raise fail(path, f"{where}.code", '"copy" for an engine on another machine '
                   "(bind mounts need the engine's own files)", "mount")
    return out


def _choice(path: Path, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise fail(path, key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
    return value


def _mount(path: Path, key: str, text: str) -> str:
    """`SOURCE:DEST[:ro|rw]`, SOURCE an absolute path or a volume name, DEST absolute."""
    parts = text.split(":")
    expected = ('"SOURCE:DEST" or "SOURCE:DEST:ro" (SOURCE an absolute path on the Docker '
                "engine's machine or a volume name, DEST an absolute path in the container)")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise fail(path, key, expected, text)
    source, dest = parts[0], parts[1]
    if not (source.startswith("/") or _VOLUME_NAME.match(source)) or not dest.startswith("/"):
        raise fail(path, key, expected, text)
    return text



def is_local(url: str) -> bool:
    """Whether an engine is this machine's (its runs' files can be bind-mounted from the
    store); a bad URL is not, and is said when the engine is reached."""
    try:
        return parse_host(url).local
    except ValueError:
        return False
