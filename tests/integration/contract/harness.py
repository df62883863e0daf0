"""What the executor contract's cases share: a store of their own, and one executor held
as the engine holds it."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ExecutorError
from core.executors.base import Exit
from core.models import Run
from core.paths import StorePaths
from tests.integration.contract.kinds import Kind, make_run

GREETING = "hello from the snapshot\n"
LIMIT = 120.0                # no case may hang: every wait has this deadline


@dataclass
class Store:
    home: Path
    snapshot: str

    def output(self, run: Run) -> str:
        try:
            return (StorePaths(self.home).run_dir(run.id) / "output.log").read_text()
        except FileNotFoundError:
            return ""


class Engine:
    """One executor on one store, held as the engine holds it; at the end it cancels what a
    failed case left running (with no grace) and closes the executor."""

    def __init__(self, kind: Kind, store: Store):
        self.kind = kind
        self.store = store
        self.executor = kind.executor(store.home)
        self.going: list[tuple[Run, dict]] = []

    def run(self, run_id: int, command: list[str]) -> Run:
        return make_run(run_id, command, self.store.snapshot, self.kind.target.name)

    def env(self, run: Run) -> dict[str, str]:
        """What the engine gives a run: the shell's environment where the kind takes it."""
        env = dict(os.environ) if self.executor.takes_shell_env else {}
        env.update(RUNYARD_RUN_ID=str(run.id), PYTHONUNBUFFERED="1")
        return env

    async def start(self, run: Run) -> dict:
        handle = await asyncio.wait_for(self.executor.start(run, self.env(run)), LIMIT)
        json.dumps(handle)                       # the engine records it as JSON
        self.going.append((run, handle))
        return handle

    async def wait(self, run: Run, handle: dict) -> Exit:
        ended = await asyncio.wait_for(self.executor.wait(run, handle), LIMIT)
        self.going.remove((run, handle))
        return ended

    async def close(self) -> None:
        for run, handle in self.going:
            try:
                await asyncio.wait_for(self.executor.cancel(run, handle, 0), LIMIT)
            except (ExecutorError, asyncio.TimeoutError) as exc:
                print(f"cleanup: run {run.id} may be left running: {exc!r}")
        await self.executor.close()
