"""The executor contract: one test body per case, run against every target kind.

Kinds: local processes, an SSH box (real OpenSSH on loopback), a Docker engine (a real
dockerd), the real test Slurm cluster (submitting here, and on a login node over SSH), and
the fake (fake.py: local processes behind a switch that puts the target out of reach). Each case drives a fresh `Executor` the way
the engine does, on a store of its own:

- a run starts with its code, its output ends up in the local run folder, its exit code
  is exact (3), and a death by signal says which (137, SIGKILL);
- cancel: SIGTERM reaches the run, the grace period is honoured, then SIGKILL ends the
  whole tree (a child that ignores SIGTERM included); nothing of it is left, no zombie;
- after the engine is killed with SIGKILL, a fresh executor finds the run (`recover`),
  attaches by the recorded handle, mirrors the rest of its output with no gap and no
  repeat, and gets the true exit code; a run that never started is not found;
- a target out of reach (its real daemon stopped; the fake's switch) makes a start raise
  a transient ExecutorError naming the target, and says so in health() and available();
  once it is back a start works. The kinds that can never be out of reach declare it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time

import pytest

from core.config import TARGET_KINDS
from core.errors import ExecutorError
from core.executors import executor_class
from core.executors.base import Executor
from core.executors.local import LocalExecutor
from tests.helpers import REPO, wait_for
from tests.integration.contract.fake import FakeExecutor
from tests.integration.contract.harness import GREETING, LIMIT, Engine
from tests.integration.contract.kinds import KINDS

GRACE = 3.0                  # the cancel's grace period, in seconds


def declared(kind: str) -> type[Executor]:
    return FakeExecutor if kind == "fake" else executor_class(KINDS[kind])


MAY_BE_UNREACHABLE = tuple(k for k in KINDS if declared(k).may_be_unreachable)
every_kind = pytest.mark.parametrize("kind", tuple(KINDS), indirect=True)
# The kinds that start a run through runyard's sh wrapper (core/runwrap.sh); a Docker run's
# command is the container's own, with no shell around it.
WRAPPED = tuple(k for k in KINDS if k != "docker")


async def eventually(predicate, what: str, timeout: float = 60.0):
    """tests.helpers.wait_for, polled in a thread so the executor's own work goes on."""
    return await asyncio.to_thread(wait_for, predicate, timeout, 0.05, what)


def processes_naming(marker: str) -> list[int]:
    """Live processes on this machine whose command line holds `marker` (runs on loopback
    boxes, in local containers and on the local Slurm node all show up here)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


def zombie_children() -> list[int]:
    """Children of this process (the engine) that ended and were never reaped."""
    zombies = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == b"Z" and int(fields[1]) == os.getpid():
                zombies.append(int(name))
    return zombies


# ------------------------------------------------------------ what every kind declares


def test_every_kind_is_an_executor_and_under_this_contract():
    assert set(TARGET_KINDS) | {"fake"} == set(KINDS.values())
    for kind in KINDS:
        assert issubclass(declared(kind), Executor), kind


def test_which_kinds_can_be_out_of_reach_is_declared():
    """Local runs are on this machine: there is nothing to lose touch with, so the local
    kind says it is never out of reach and the transient case does not apply to it."""
    assert MAY_BE_UNREACHABLE == ("ssh", "docker", "slurm", "slurm-over-ssh", "fake")
    assert LocalExecutor.may_be_unreachable is False


# ------------------------------------------------------------ the cases


@every_kind
async def test_a_run_starts_with_its_code_its_output_comes_here_and_its_exit_is_exact(kind,
                                                                                     store):
    engine = Engine(kind, store)
    run = engine.run(1, ["sh", "-c", 'cat hello.txt; echo "run $RUNYARD_RUN_ID here"; exit 3'])
    try:
        ended = await engine.wait(run, await engine.start(run))
    finally:
        await engine.close()
    assert (ended.exit_code, ended.reason, ended.lost) == (3, "exit code 3", False)
    assert store.output(run) == GREETING + "run 1 here\n"


@pytest.mark.parametrize("kind", WRAPPED, indirect=True)
async def test_a_shell_builtin_as_the_command_ends_with_its_true_code(kind, store):
    """`exit 0` and `exec ...` act in a shell of their own, not in the wrapper's: the run
    ends with their code instead of taking the wrapper down without a status."""
    engine = Engine(kind, store)
    exits, execs = engine.run(1, ["exit", "0"]), engine.run(2, ["exec", "sh", "-c", "exit 6"])
    try:
        ended = [await engine.wait(run, await engine.start(run)) for run in (exits, execs)]
    finally:
        await engine.close()
    assert [(e.exit_code, e.lost) for e in ended] == [(0, False), (6, False)]


@every_kind
async def test_a_death_by_signal_says_which(kind, store):
    engine = Engine(kind, store)
    run = engine.run(1, ["sh", "-c", "echo going; kill -9 $$"])
    try:
        ended = await engine.wait(run, await engine.start(run))
    finally:
        await engine.close()
    assert (ended.exit_code, ended.reason) == (137, "killed by signal 9 (SIGKILL)")
    assert store.output(run).startswith("going\n")     # a shell may add its own "Killed"


@every_kind
async def test_cancel_is_sigterm_then_after_the_grace_sigkill_to_the_whole_tree(kind, store):
    marker = f"contract-{secrets.token_hex(6)}"
    # The run traps SIGTERM (says so, carries on); its child ignores it: only SIGKILL ends them.
    script = (f'trap "" TERM; sh -c "while :; do sleep 1; done" {marker}-child & '
              'trap "echo got TERM" TERM; echo started; while :; do sleep 1; done')
    engine = Engine(kind, store)
    run = engine.run(1, ["sh", "-c", script, marker])
    try:
        handle = await engine.start(run)
        waiting = asyncio.ensure_future(engine.wait(run, handle))
        await eventually(lambda: "started" in store.output(run), "the run to start")
        assert len(processes_naming(marker)) >= 2, "the run and its child are running"
        began = time.monotonic()
        await asyncio.wait_for(engine.executor.cancel(run, handle, GRACE), LIMIT)
        await waiting
        took = time.monotonic() - began
    finally:
        await engine.close()
    assert "got TERM" in store.output(run), "SIGTERM came first"
    assert took >= GRACE, f"the grace period was cut short ({took:.1f} s)"
    await eventually(lambda: not processes_naming(marker), "every process of the run to end")
    assert zombie_children() == [], "whatever the engine started was reaped"


@every_kind
async def test_a_fresh_executor_reattaches_after_the_engine_is_killed(kind, store, tmp_path):
    fresh = Engine(kind, store)              # what the restarted engine makes
    run = fresh.run(1, ["sh", "-c", "echo before; while [ ! -e go ]; do sleep 0.1; done; "
                                    "echo after; exit 5"])
    spec = {"target": kind.target.to_dict(), "home": str(store.home), "run_id": run.id,
            "command": run.spec.command, "snapshot": store.snapshot, "env": fresh.env(run)}
    with open(tmp_path / "standin.err", "wb") as errors:
        standin = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.contract.engine_standin", json.dumps(spec)],
            stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, cwd=REPO,
            env={**os.environ, **kind.env, "PYTHONPATH": str(REPO)})
    try:
        line = await asyncio.wait_for(asyncio.to_thread(standin.stdout.readline), LIMIT)
        assert line, (tmp_path / "standin.err").read_text()
        handle = json.loads(line)
        fresh.going.append((run, handle))
        await eventually(lambda: "before" in store.output(run), "the stand-in to follow the run")
        standin.kill()                                          # SIGKILL: no goodbye
        standin.wait(timeout=30)
        found = await asyncio.wait_for(fresh.executor.recover(run), LIMIT)
        (kind.workdir(store.home, run, handle) / "go").touch()
        ended = await fresh.wait(run, handle)
    finally:
        if standin.poll() is None:
            standin.kill()
            standin.wait(timeout=30)
        standin.stdout.close()
        await fresh.close()
    assert found is not None, "a run whose handle was lost is found again"
    assert (ended.exit_code, ended.reason, ended.lost) == (5, "exit code 5", False)
    assert store.output(run) == "before\nafter\n", "no gap, no repeat"


@every_kind
async def test_a_run_that_never_started_is_not_found(kind, store):
    engine = Engine(kind, store)
    try:
        found = await asyncio.wait_for(engine.executor.recover(engine.run(9, ["true"])), LIMIT)
    finally:
        await engine.close()
    assert found is None, "the engine queues it again"


@pytest.mark.parametrize("kind", MAY_BE_UNREACHABLE, indirect=True)
async def test_a_target_out_of_reach_fails_a_start_transiently_then_heals(kind, store):
    engine = Engine(kind, store)
    run = engine.run(1, ["sh", "-c", "cat hello.txt"])
    try:
        await asyncio.wait_for(engine.executor.reach(), LIMIT)    # as a running engine is
        await asyncio.to_thread(kind.go_away)
        try:
            with pytest.raises(ExecutorError) as refused:
                await engine.start(run)
            health = engine.executor.health()
            available = engine.executor.available()
        finally:
            await asyncio.to_thread(kind.come_back)
        ended = await engine.wait(run, await engine.start(run))
        healed = engine.executor.health()
    finally:
        await engine.close()
    assert refused.value.transient, refused.value.message
    assert refused.value.target == kind.target.name
    assert health is not None and health[0] == "unreachable", health
    assert available is False, "queued runs wait for the target"
    assert (ended.exit_code, store.output(run)) == (0, GREETING)
    assert healed == ("ok", None)
