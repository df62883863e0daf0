"""Executors: one module per target kind, each implementing `core.executors.base.Executor`.

Modules are imported only when a target of their kind is used, so the heavy client
libraries (asyncssh, aiodocker) never load for a local run or a CLI listing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from core.errors import ConfigError

_MODULES = {
    "local": "core.executors.local",
    "docker": "core.executors.docker.executor",
    "ssh": "core.executors.ssh",
    "slurm": "core.executors.slurm.executor",
}


def module_for(kind: str):
    name = _MODULES.get(kind)
    if name is None:
        raise ConfigError(f"targets of kind {kind!r} are not available in this version of runyard",
                          hint="available kinds: " + ", ".join(sorted(_MODULES)))
    return importlib.import_module(name)


def option_checker(kind: str) -> Callable[[Path, str, dict], dict]:
    """The function that checks a target's kind-specific keys (see each module's `check_options`)."""
    return module_for(kind).check_options


def executor_class(kind: str):
    return module_for(kind).EXECUTOR
