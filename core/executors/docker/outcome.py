"""How a container ended (or failed to start), in runyard's words, and its exit_status record.

Docker's exit code is kept as is (128+N when a signal N ended the command). Reasons follow
the local target's: "exit code 3", "killed by signal 9 (SIGKILL)", "command not found in
image IMAGE: CMD", and Docker's own cases (out of memory, no GPU support). The outcome is
written to runs/<id>/exit_status ("CODE<TAB>REASON", as the local wrapper does, with the
container's end time as the file's mtime) before the container may be removed.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from core.executors.base import Exit, describe_code, parse_status
from core.executors.docker.stream import file_size


def start_failure(url: str, image: str, command: str, message: str) -> str:
    """Docker's refusal to start a container, as the run's reason."""
    if "could not select device driver" in message:
        return (f"the run asks for GPUs but the Docker engine at {url} cannot give any "
                f"({message}); install the NVIDIA Container Toolkit there, or set the "
                f"target's gpus to \"none\"")
    if "executable file not found" in message or "no such file or directory" in message:
        return f"command not found in image {image}: {command} ({message})"
    return f"the Docker engine at {url} could not start the container: {message}"


def exit_of(state: dict, image: str, command: str, log_file: Path) -> Exit:
    """The Exit of an ended container from its inspected `State`."""
    code = int(state.get("ExitCode", -1))
    reason: str | None
    if state.get("OOMKilled"):
        reason = f"killed: out of memory (exit code {code})"
    elif code == 127 and _init_could_not_run(log_file, command):
        reason = f"command not found in image {image}: {command}"
    elif state.get("Status") == "dead":
        reason = f"the container died: {state.get('Error') or 'no reason given'}"
    else:
        reason = describe_code(code)
    return Exit(exit_code=code, reason=reason, ended_at=docker_time(state.get("FinishedAt")))


def recorded_exit(run_dir: Path) -> Exit | None:
    """The outcome written by `write_status`, if any."""
    path = run_dir / "exit_status"
    try:
        status = parse_status(path.read_text(errors="replace"))
        ended_at = path.stat().st_mtime
    except FileNotFoundError:
        return None
    if status is None:
        return None
    return Exit(status.exit_code, status.reason, ended_at=ended_at)


def write_status(run_dir: Path, code: int, reason: str | None, ended_at: float | None) -> None:
    """Record how the container ended, atomically, before the container may be removed."""
    tmp = run_dir / "exit_status.tmp"
    tmp.write_text(f"{code}\t{reason or ''}\n")
    if ended_at is not None:
        os.utime(tmp, (ended_at, ended_at))
    os.replace(tmp, run_dir / "exit_status")


def docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 time with nanoseconds -> epoch seconds (None for the zero time)."""
    if not text or text.startswith("0001-"):
        return None
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        return None


def _init_could_not_run(log_file: Path, command: str) -> bool:
    """Docker's init (tini) reports a command it cannot run as its last words, code 127."""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(max(0, file_size(log_file) - 4096))
            tail = handle.read()
    except OSError:
        return False
    return f"exec {command} failed: No such file or directory".encode() in tail
