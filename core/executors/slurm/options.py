"""The settings of a slurm target, checked like every config key, and the sbatch flags they make.

    [targets.cluster]
    kind = "slurm"
    host = "login-node"          # optional: submit over SSH (any key of an ssh target works)
    work_dir = "~/.runyard"      # with host: the folder on the cluster's shared filesystem
    partition = "gpu"
    account = "my-lab"
    qos = "normal"
    time_limit = "2:00:00"       # sbatch --time: MINUTES, H:MM:SS, D-HH, D-HH:MM:SS...
    cpus = 8                     # sbatch --cpus-per-task
    memory = "32G"               # sbatch --mem (a number is megabytes)
    gres = "gpu:a100:1"          # sbatch --gres, for every job
    gpu_type = "a100"            # `tui launch --gpus 2` then asks --gpus=a100:2
    sbatch_options = ["--constraint=ib", "--exclusive"]
    command_timeout = 60         # seconds any one Slurm command (or remote operation) may take
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.config import fail, non_negative_number, positive_int, string, string_list
from core.errors import ConfigError
from core.remote.settings import SSH_KEYS, check_ssh_options, check_work_dir

DEFAULT_COMMAND_TIMEOUT = 60.0

_OWN_KEYS = {
    "partition": "sbatch --partition",
    "account": "sbatch --account",
    "qos": "sbatch --qos",
    "time_limit": "sbatch --time (\"30\" minutes, \"2:00:00\", \"1-12:00:00\")",
    "cpus": "sbatch --cpus-per-task",
    "memory": "sbatch --mem (\"32G\", \"500M\"; a number is megabytes)",
    "gres": "sbatch --gres for every job (\"gpu:a100:1\")",
    "gpu_type": "the GPU type for runs launched with --gpus N (sbatch --gpus=TYPE:N)",
    "sbatch_options": "more sbatch flags, a list such as [\"--exclusive\"]",
    "work_dir": "with host: the folder on the cluster for code and runs (default ~/.runyard)",
}
# Without host, only these of the ssh keys make sense.
_LOCAL_KEYS = set(_OWN_KEYS) - {"work_dir"} | {"command_timeout"}

_TIME = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}"
                   r"|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$")
_MEMORY = re.compile(r"^\d+[KMGT]?$")
_WORD = re.compile(r"^[A-Za-z0-9_.:,+=@/-]+$")
# Flags runyard sets itself; another value would break how it follows the job.
_RESERVED = ("--array", "-a", "--output", "-o", "--error", "-e", "--open-mode", "--wrap",
             "--parsable", "--comment", "--requeue", "--job-name", "-J")


def check_options(path: Path, where: str, options: dict) -> dict:
    """Check the slurm-only keys (and the ssh keys when `host` is given); return them normalised."""
    if "host" in options:
        out = check_ssh_options(path, where, options, extra=_OWN_KEYS)
        if "work_dir" in options:
            out["work_dir"] = check_work_dir(path, f"{where}.work_dir", options["work_dir"])
    else:
        for key in options:
            if key in _LOCAL_KEYS:
                continue
            if key in SSH_KEYS or key == "work_dir":
                raise ConfigError(f"{path}: {where}.{key}: only applies with host",
                                  hint="set host to submit over SSH to a login node, or remove "
                                       f"{key}")
            raise ConfigError(f"{path}: {where}.{key}: unknown key",
                              hint="slurm targets take kind, max_parallel, gpus, host (and the "
                                   "keys of ssh targets), " + ", ".join(sorted(_OWN_KEYS)))
        out = dict(options)
        if "command_timeout" in options:
            seconds = non_negative_number(path, f"{where}.command_timeout",
                                          options["command_timeout"])
            if seconds == 0:
                raise fail(path, f"{where}.command_timeout", "a number of seconds above 0", 0)
            out["command_timeout"] = seconds
    for key in ("partition", "account", "qos", "gres", "gpu_type"):
        if key in options:
            value = string(path, f"{where}.{key}", options[key])
            if not _WORD.match(value):
                raise fail(path, f"{where}.{key}", "a Slurm name (letters, digits and ._:,+=@/-)",
                           value)
    if "time_limit" in options:
        out["time_limit"] = _time_limit(path, f"{where}.time_limit", options["time_limit"])
    if "cpus" in options:
        out["cpus"] = positive_int(path, f"{where}.cpus", options["cpus"])
    if "memory" in options:
        out["memory"] = _memory(path, f"{where}.memory", options["memory"])
    if "sbatch_options" in options:
        out["sbatch_options"] = list(_sbatch_options(path, f"{where}.sbatch_options",
                                                     options["sbatch_options"]))
    return out


def _time_limit(path: Path, key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and _TIME.match(value.strip()):
        return value.strip()
    raise fail(path, key, 'a Slurm time limit: minutes (30), "MM:SS", "H:MM:SS", "D-HH", '
                          '"D-HH:MM:SS" or "UNLIMITED"', value)


def _memory(path: Path, key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str):
        text = value.strip().upper().removesuffix("B").removesuffix("I")
        if _MEMORY.match(text):
            return text
    raise fail(path, key, 'a Slurm memory size such as "32G", "500M" or a number of megabytes',
               value)


def _sbatch_options(path: Path, key: str, value: Any) -> tuple[str, ...]:
    flags = string_list(path, key, value)
    for i, flag in enumerate(flags):
        if not flag.startswith("-"):
            raise fail(path, f"{key}[{i}]", 'an sbatch flag starting with "-" (values joined with '
                                            '"=", as in "--constraint=ib")', flag)
        name = flag.split("=", 1)[0]
        short = not flag.startswith("--") and flag[:2] in _RESERVED
        if name in _RESERVED or short:
            raise fail(path, f"{key}[{i}]", "a flag runyard does not set itself (it sets "
                       "--array, --output, --open-mode, --job-name, --comment and --parsable, "
                       "and submits with --no-requeue)", flag)
    return flags


def sbatch_flags(options: dict, gpus: int) -> list[str]:
    """The resource flags of every job of this target; `gpus` is what the run asked for."""
    flags = []
    for key, flag in (("partition", "--partition"), ("account", "--account"), ("qos", "--qos"),
                      ("time_limit", "--time"), ("cpus", "--cpus-per-task"), ("memory", "--mem"),
                      ("gres", "--gres")):
        if key in options:
            flags.append(f"{flag}={options[key]}")
    if gpus:
        kind = options.get("gpu_type")
        flags.append(f"--gpus={kind}:{gpus}" if kind else f"--gpus={gpus}")
    flags.extend(options.get("sbatch_options", []))
    return flags


def command_timeout(options: dict) -> float:
    return float(options.get("command_timeout", DEFAULT_COMMAND_TIMEOUT))
