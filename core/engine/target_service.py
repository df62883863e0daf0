"""The engine's side of targets for the user: `tui targets`, and live GPU figures."""

from __future__ import annotations

import asyncio
import logging
import os

from core import config as configuration
from core import requests
from core.engine.runner import Runner
from core.engine.targets import Registry, project_config
from core.errors import RunyardError, StoreError
from core.store import queries as run_queries
from core.store import queue_queries
from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")

# How long `tui targets` waits for targets to answer (an unreachable box shows as such).
TARGETS_PREPARE_WAIT = 5.0
# How often the live utilisation and memory of GPUs in use are read (for the app's list).
GPU_POLL_INTERVAL = float(os.environ.get("RUNYARD_GPU_POLL", "5") or 5)


class TargetService:
    def __init__(self, ledger: Ledger, registry: Registry, runner: Runner):
        self.ledger = ledger
        self.registry = registry
        self.runner = runner

    async def op_targets(self, request: requests.TargetsRequest) -> dict:
        if request.cwd:
            config = project_config(configuration.find_project(request.cwd), request.env)
            self.registry.learn(config.targets)
        counts = queue_queries.active_by_target(self.ledger.conn)
        runtimes = [runtime for name in sorted(self.registry.configs)
                    if (runtime := self.registry.get(name)) is not None]
        preparing = [asyncio.ensure_future(runtime.prepare()) for runtime in runtimes]
        await asyncio.wait(preparing, timeout=TARGETS_PREPARE_WAIT)   # the rest go on meanwhile
        probing = [asyncio.ensure_future(runtime.check()) for runtime in runtimes]
        await asyncio.wait(probing, timeout=TARGETS_PREPARE_WAIT)
        targets = []
        for runtime in runtimes:
            name = runtime.config.name
            info = runtime.describe()
            try:
                self.ledger.target_status(name, info["status"], info["message"],
                                          info["gpu_ids"])
            except StoreError as exc:
                log.debug("target %s: status not recorded: %s", name, exc.message)
            info.update(self._unrecorded_on(name))
            info["running"] = counts.get(name, {}).get("running", 0)
            info["queued"] = counts.get(name, {}).get("queued", 0)
            targets.append(info)
        return {"targets": targets}

    def _unrecorded_on(self, target: str) -> dict:
        """A target whose runs' ends cannot be recorded (the store is full or busy) shows it."""
        waiting = sorted(run_id for run_id in self.runner.unrecorded
                         if (run := run_queries.get_run(self.ledger.conn, run_id)) and
                         run.spec.target == target)
        if not waiting:
            return {}
        why = self.runner.unrecorded.get(waiting[0], "")
        return {"status": "error",
                "message": f"cannot record run{'s' if len(waiting) > 1 else ''} "
                           f"{', '.join(map(str, waiting))}: {why}; retrying"}

    async def gpu_loop(self) -> None:
        """Record live GPU figures (`targets.gpus`) of targets that have runs on GPUs."""
        while True:
            await asyncio.sleep(GPU_POLL_INTERVAL)
            for name in queue_queries.targets_with_gpus_in_use(self.ledger.conn):
                runtime = self.registry.get(name)
                if runtime is None or runtime.config.gpus != "auto":
                    continue
                try:
                    gpus, problem = await runtime.executor.gpus()
                    if not queue_queries.target_recorded(self.ledger.conn, name):
                        config = runtime.config
                        self.ledger.upsert_target(name, config.kind, config.to_dict(),
                                                  config.source)
                    self.ledger.target_status(name, "error" if problem else "ok", problem,
                                              [g.to_dict() for g in gpus])
                except RunyardError as exc:
                    log.warning("GPU figures of target %s: %s", name, exc.message)
