"""An engine stand-in for the contract's reattach case, killed with SIGKILL by the test.

    python -m tests.integration.contract.engine_standin SPEC_JSON

It does what the engine does with a new run: makes the target's executor, starts the run,
prints the handle (one JSON line, which the engine would record), then follows the run
(`wait`, which mirrors a remote run's output here) until it is killed. The test then
gives the handle to a fresh executor in its own process, as a restarted engine would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from core.config import TargetConfig
from tests.integration.contract.kinds import build_executor, make_run


async def serve(spec: dict) -> None:
    target = TargetConfig.from_dict(spec["target"])
    executor = build_executor(target, Path(spec["home"]))
    run = make_run(spec["run_id"], spec["command"], spec["snapshot"], target.name)
    handle = await executor.start(run, spec["env"])
    print(json.dumps(handle), flush=True)
    await executor.wait(run, handle)
    print("the run ended before the stand-in was killed", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
