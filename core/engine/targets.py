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
import time

from core import config as configuration
from core.config import Config, Project, TargetConfig
from core.errors import ExecutorError, UnknownTarget
from core.executors import executor_class, option_checker
from core.executors.base import Context, Executor
from core.gpus import Gpu
from core.store import queries as run_queries
from core.store.ledger import Ledger
from core.engine.scheduler import Capacity

log = logging.getLogger("runyard.engine")

PREPARE_RETRY = 15.0


def project_config(project: Project | None, env: dict[str, str] | None) -> Config:
    """A project's config as the engine reads it: each target's own keys checked by its kind."""
    return configuration.load(project, env, target_options=option_checker)


class TargetRuntime:
    """One target as the engine runs it: config, executor, GPUs."""

    def __init__(self, config: TargetConfig, context: Context):
        self.config = config
        self.context = context
        self.executor: Executor = executor_class(config.kind)(config, context)
        self.gpus: list[Gpu] = []
        self.gpu_ids: tuple[int, ...] = ()
        self.problem: str | None = None              # GPU detection failed
        self.failure: ExecutorError | None = None    # why the last prepare() failed
        self.probed: str | None = None               # why the last probe() failed (kinds that tell)
        self._ready = False
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        """Learn the target's GPUs once ("auto" asks the executor; lists are taken as given).

        Remote targets are reached here too; if that fails the target stays unprepared, its
        runs wait, and the next call tries again (at most every PREPARE_RETRY seconds).
        """
        async with self._lock:
            if self._ready or time.monotonic() < self._retry_at:
                return
            setting = self.config.gpus
            try:
                await self.executor.reach()
                if setting == "auto":
                    self.gpus, self.problem = await self.executor.gpus()
                    self.gpu_ids = tuple(g.index for g in self.gpus)
                else:
                    # "none", or docker's fixed requests ("all", N), which are not placed
                    self.gpu_ids = tuple(setting) if isinstance(setting, tuple) else ()
            except ExecutorError as exc:
                self.failure = exc
                self._retry_at = time.monotonic() + PREPARE_RETRY
                return
            self.failure = None
            self._ready = True

    async def check(self, timeout: float = 15.0) -> str | None:
        """Ask the target whether it answers now (kinds without a probe say nothing)."""
        try:
            self.probed = await asyncio.wait_for(self.executor.probe(), timeout)
        except asyncio.TimeoutError:
            self.probed = f"no answer within {timeout:.0f} s"
        return self.probed

    @property
    def ready(self) -> bool:
        return self._ready

    def retry_now(self) -> None:
        """The target came back: the next prepare() tries at once."""
        self._retry_at = 0.0

    def available(self) -> bool:
        """Whether new runs may start now (a remote box may be unreachable for a while)."""
        return self.executor.available()

    def capacity(self) -> Capacity:
        return Capacity(target=self.config.name, max_parallel=self.config.max_parallel,
                        gpu_ids=self.gpu_ids, gpu_share=self.config.gpu_share,
                        places_gpus=self.executor.places_gpus)

    def describe(self) -> dict:
        data = self.config.to_dict()
        data["gpu_ids"] = list(self.gpu_ids)
        data["gpu_info"] = [g.to_dict() for g in self.gpus]
        data["status"] = "error" if self.problem else ("ok" if self._ready else "idle")
        data["message"] = self.problem
        health = self.executor.health()
        if health is not None:
            status, message = health
            if status != "ok" or not self.problem:
                data["status"], data["message"] = status, message
        problem = self.failure.message if self.failure is not None else self.probed
        if problem and data["status"] in ("ok", "idle"):
            data["status"], data["message"] = "error", problem
        return data


class Registry:
    def __init__(self, ledger: Ledger, context: Context):
        self.ledger = ledger
        self.context = context
        self.runtimes: dict[str, TargetRuntime] = {}
        self.retired: list[TargetRuntime] = []
        self.configs: dict[str, TargetConfig] = {"local": TargetConfig(name="local")}
        for row in run_queries.targets(ledger.conn):
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

    def known(self, name: str) -> TargetRuntime:
        """The runtime of a target the registry knows (a name from its own configs, or one
        the scheduler placed a run on); an unknown name is an UnknownTarget error."""
        runtime = self.get(name)
        if runtime is None:
            raise UnknownTarget(f"no target named {name!r}",
                                hint="define it under [targets.NAME] in the project's config")
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
