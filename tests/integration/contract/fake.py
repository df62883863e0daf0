"""A fake target kind for tests: real local processes behind a switch that puts it out of reach.

What it stands in for: a remote target (an SSH box, a Docker engine, a Slurm controller)
at the moment it stops answering, and when it comes back. The contract test stops the
real daemons too, but that is slow and needs them installed; the fake gives the same
failure on a switch, in milliseconds and anywhere, so a test of what the engine does
with a transient failure never has to wait for a daemon. It is not a target kind users
can name (core.executors does not list it); tests build it directly.

Its runs are real: each is a process on this machine started through runyard's wrapper,
by the local executor, so exit codes, cancel (SIGTERM, grace, SIGKILL to the tree,
reaped) and reattaching by handle after the engine died are the real thing. It declares
what a remote kind declares: it may be unreachable, and its runs take neither the shell's
environment nor paths of this machine's run folders.

The switch is a file (the target option `switch`), so a test can flip it for an executor
living in another process. While it exists: start, recover, cancel and reach raise a
transient ExecutorError naming the target, health() says "unreachable", available() is
False, and wait() keeps a run's outcome until the switch is gone (as a box that must be
reached to read the exit status).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.config import TargetConfig
from core.errors import ExecutorError
from core.executors.base import Context, Executor, Exit
from core.executors.local import LocalExecutor
from core.models import Run

LOOK_AGAIN = 0.05       # seconds between looks at the switch while an outcome waits for it


class FakeExecutor(Executor):
    kind = "fake"
    may_be_unreachable = True

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        self.switch = Path(target.options["switch"])
        self.processes = LocalExecutor(target, context)
        self.refusals = 0                       # transient errors raised so far

    def _must_be_reachable(self, what: str) -> None:
        if self.switch.exists():
            self.refusals += 1
            raise ExecutorError(f"{self.target.name}: out of reach while {what} (the test's "
                                f"switch {self.switch} is on)", target=self.target.name,
                                transient=True)

    async def reach(self) -> None:
        self._must_be_reachable("connecting")

    def health(self) -> tuple[str, str | None]:
        if self.switch.exists():
            return "unreachable", f"{self.target.name}: out of reach (the test's switch is on)"
        return "ok", None

    def available(self) -> bool:
        return not self.switch.exists()

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        self._must_be_reachable(f"starting run {run.id}")
        return await self.processes.start(run, env)

    async def wait(self, run: Run, handle: dict) -> Exit:
        outcome = await self.processes.wait(run, handle)
        while self.switch.exists():
            await asyncio.sleep(LOOK_AGAIN)
        return outcome

    async def recover(self, run: Run) -> dict | None:
        self._must_be_reachable(f"looking for run {run.id}")
        return await self.processes.recover(run)

    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        self._must_be_reachable(f"cancelling run {run.id}")
        await self.processes.cancel(run, handle, grace)

    async def close(self) -> None:
        await self.processes.close()
