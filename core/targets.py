"""The engine's targets: their settings, executors, GPU inventory and health.

Targets are defined in config files, which belong to projects; the engine serves one
store for many projects. So the engine keeps a registry: each launch brings the targets
of its config, and the newest definition of a name wins (recorded in the `targets` table,
so a restarted engine knows them before the next launch).
"""

from __future__ import annotations

import asyncio
import json
import logging

from core.config import TargetConfig
from core.executors import executor_class
from core.executors.base import Context, Executor
from core.gpus import Gpu
from core.ledger import Ledger
from core.scheduler import Capacity

log = logging.getLogger("runyard.engine")


class TargetRuntime:
    """One target as the engine runs it: config, executor, GPUs."""

    def __init__(self, config: TargetConfig, context: Context):
        self.config = config
        self.context = context
        self.executor: Executor = executor_class(config.kind)(config, context)
        self.gpus: list[Gpu] = []
        self.gpu_ids: tuple[int, ...] = ()
        self.problem: str | None = None          # GPU detection failed
        self.health: str | None = None           # the target cannot be reached (kinds that tell)
        self._ready = False
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        """Learn the target's GPUs once ("auto" asks the executor; lists are taken as given)."""
        async with self._lock:
            if self._ready:
                return
            setting = self.config.gpus
            if setting == "auto":
                self.gpus, self.problem = await self.executor.gpus()
                self.gpu_ids = tuple(g.index for g in self.gpus)
            elif isinstance(setting, tuple):
                self.gpu_ids = setting
            else:                   # "none"; docker's fixed requests ("all", N) are not placed
                self.gpu_ids = ()
            self._ready = True

    async def check(self, timeout: float = 15.0) -> str | None:
        """Ask the executor whether the target answers (executors with `health()` only)."""
        probe = getattr(self.executor, "health", None)
        if probe is not None:
            try:
                self.health = await asyncio.wait_for(probe(), timeout)
            except asyncio.TimeoutError:
                self.health = f"no answer within {timeout:.0f} s"
        return self.health

    def capacity(self) -> Capacity:
        return Capacity(target=self.config.name, max_parallel=self.config.max_parallel,
                        gpu_ids=self.gpu_ids, gpu_share=self.config.gpu_share)

    def describe(self) -> dict:
        data = self.config.to_dict()
        data["gpu_ids"] = list(self.gpu_ids)
        data["gpu_info"] = [g.to_dict() for g in self.gpus]
        problem = self.health or self.problem
        data["status"] = "error" if problem else ("ok" if self._ready else "idle")
        data["message"] = problem
        return data


class Registry:
    def __init__(self, ledger: Ledger, context: Context):
        self.ledger = ledger
        self.context = context
        self.runtimes: dict[str, TargetRuntime] = {}
        self.retired: list[TargetRuntime] = []
        self.configs: dict[str, TargetConfig] = {"local": TargetConfig(name="local")}
        for row in ledger.targets():
            try:
                self.configs[row["name"]] = TargetConfig.from_dict(json.loads(row["config"]))
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("ignoring stored target %s: %s", row["name"], exc)

    def learn(self, configs: dict[str, TargetConfig]) -> None:
        """Take the targets of a config file seen at launch; changed ones get a new runtime."""
        for name, config in configs.items():
            if self.configs.get(name) == config:
                continue
            old = self.runtimes.get(name)
            self.configs[name] = config
            self.ledger.upsert_target(name, config.kind, config.to_dict(), config.source)
            if old is not None and (old.config.kind, old.config.options, old.config.gpus) == \
                    (config.kind, config.options, config.gpus):
                old.config = config               # only limits changed: keep connections
            elif old is not None:
                # Runs started through the old executor keep it until they end.
                self.retired.append(self.runtimes.pop(name))

    def get(self, name: str) -> TargetRuntime | None:
        runtime = self.runtimes.get(name)
        if runtime is None and name in self.configs:
            runtime = self.runtimes[name] = TargetRuntime(self.configs[name], self.context)
        return runtime

    def describe(self) -> list[dict]:
        out = []
        for name in sorted(self.configs):
            runtime = self.runtimes.get(name)
            out.append(runtime.describe() if runtime else
                       {**self.configs[name].to_dict(), "gpu_ids": [], "gpu_info": [],
                        "status": "idle", "message": None})
        return out

    async def close(self) -> None:
        for runtime in [*self.runtimes.values(), *self.retired]:
            await runtime.executor.close()
