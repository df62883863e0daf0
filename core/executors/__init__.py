"""Executors: one module per target kind, each implementing `core.executors.base.Executor`.

A kind's executor module is imported only when a target of that kind is used, so its
client library (aiodocker, asyncssh: 100-200 ms each, tests/bench/bench_imports.py) never
loads for a local run. Checking a config's target keys imports only the module that
defines them (the kind's options module, light).
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
    return importlib.import_module(_MODULES[_known(kind)])


def _known(kind: str) -> str:
    if kind not in _MODULES:
        raise ConfigError(f"targets of kind {kind!r} are not available in this version of runyard",
                          hint="available kinds: " + ", ".join(sorted(_MODULES)))
    return kind


# Where each kind's target keys are checked (`check_options`); the engine passes
# option_checker to core.config.load.
_OPTIONS = {
    "local": "core.executors.local",
    "docker": "core.executors.docker.options",
    "ssh": "core.executors.ssh",
    "slurm": "core.executors.slurm.options",
}


def option_checker(kind: str) -> Callable[[Path, str, dict], dict]:
    """The function that checks a target's kind-specific keys (see each module's `check_options`)."""
    return importlib.import_module(_OPTIONS[_known(kind)]).check_options


def executor_class(kind: str):
    return module_for(kind).EXECUTOR
