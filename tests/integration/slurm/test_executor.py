"""The slurm executor driven directly (no engine) against the real cluster: starts that arrive
together make one array, and a job whose handle was never recorded is found again."""

import asyncio
import os

from core.store.blobs import BlobStore
from core.config import TargetConfig
from core.executors.base import Context
from core.executors.slurm.executor import SlurmExecutor
from core.models import Run, RunSpec, RunState
from core.paths import StorePaths
from tests.helpers import wait_for_async


def _run(run_id: int, command: list[str], group: int | None = None) -> Run:
    run = Run(id=run_id, spec=RunSpec(command=command, template=command, params={},
                                      target="cluster"),
              state=RunState.RUNNING, snapshot=None, project="/nowhere", workdir="",
              created_at="2026-01-01T00:00:00.000Z")
    run.group_id = group                  # what sweeps (issue 6) add to runs
    return run


def _executor(tmp_path) -> SlurmExecutor:
    paths = StorePaths(tmp_path / "store")
    paths.ensure()
    details = []
    context = Context(paths, BlobStore(paths.blobs),
                      on_detail=lambda run_id, detail, message: details.append((run_id, detail)))
    executor = SlurmExecutor(TargetConfig(name="cluster", kind="slurm",
                                          options={"partition": "debug"}), context)
    executor.details = details
    return executor


def test_starts_arriving_together_are_one_array_per_sweep_and_resources(slurm_cluster, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))

    async def scenario():
        executor = _executor(tmp_path)
        runs = [_run(1, ["echo", "a"], group=7), _run(2, ["echo", "b"], group=7),
                _run(3, ["echo", "c"], group=8), _run(4, ["echo", "d"])]
        handles = await asyncio.gather(*(executor.start(r, dict(os.environ)) for r in runs))
        exits = await asyncio.gather(*(executor.wait(r, h) for r, h in zip(runs, handles)))
        await executor.close()
        return executor, handles, exits

    executor, handles, exits = asyncio.run(scenario())
    assert executor.batcher.batches == 3, "sweep 7 together; sweep 8 and the lone run alone"
    assert handles[0]["array"] == handles[1]["array"] and handles[0]["size"] == 2
    assert [handles[0]["task"], handles[1]["task"]] == [0, 1]
    assert "array" not in handles[2] and "array" not in handles[3]
    assert [e.exit_code for e in exits] == [0, 0, 0, 0]
    logs = [(tmp_path / "store" / "runs" / str(i) / "output.log").read_text() for i in (1, 2, 3, 4)]
    assert logs == ["a\n", "b\n", "c\n", "d\n"]
    assert any(detail and detail.startswith(f"job {handles[0]['job']} ")
               for run_id, detail in executor.details if run_id == 1)


def test_a_job_submitted_before_the_engine_died_is_found_by_its_comment(slurm_cluster, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))

    async def scenario():
        first = _executor(tmp_path)
        run = _run(5, ["sleep", "60"])
        members = [_run(7, ["sleep", "60"], group=1), _run(8, ["sleep", "60"], group=1)]
        handle, *array = await asyncio.gather(*(first.start(r, dict(os.environ))
                                                for r in [run, *members]))
        await first.close()                   # the engine died before recording the handles
        again = _executor(tmp_path)
        found = await again.recover(run)
        assert [await again.recover(m) for m in members] == array
        await asyncio.gather(*(again.cancel(m, h, grace=0) for m, h in zip(members, array)))
        unknown = await again.recover(_run(6, ["true"]))
        pid = tmp_path / "store" / "runs" / "5" / "pid"

        async def running() -> bool:
            # RUNNING in Slurm, and the batch script started: the wrapper wrote its pid. A
            # job cancelled between the two ends as a launch failure, not by SIGTERM (seen
            # on a loaded machine).
            state = (await again.jobs.query([found["job"]]))[found["job"]].state
            return state == "RUNNING" and pid.exists() and pid.read_text().strip() != ""
        await wait_for_async(running, timeout=20, interval=0.1, what="the job's script to run")
        await again.cancel(run, found, grace=1)
        ended = await again.wait(run, found)
        await again.close()
        return handle, found, unknown, ended

    handle, found, unknown, ended = asyncio.run(scenario())
    assert found == {"job": handle["job"]}
    assert unknown is None, "a run that was never submitted is queued again"
    assert ended.exit_code == 143 and ended.reason == "received SIGTERM"
