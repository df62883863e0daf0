"""The queue gate's bookkeeping against a real store written through the ledger: it sees
every change of the queue exactly, settles dependencies and groups once each, and reads
only what a pass needs."""

import json

import pytest

from core.engine.queue_gate import QueueGate
from core.engine.scheduler import Busy, Capacity, place
from core.errors import StoreError
from core.models import RunState
from core.paths import StorePaths
from core.store import queue_queries
from core.store.ledger import Ledger
from tests.tui.fixture_store import add_run


class Runner:
    """The engine's runner as the gate uses it: `finish` records the end through the
    ledger; `busy_once` makes the first call fail as a store held by another program does."""

    def __init__(self, ledger: Ledger, busy_once: bool = False):
        self.ledger = ledger
        self.busy_once = busy_once
        self.ended: dict[int, str | None] = {}

    def finish(self, run_id, exit, cause=None) -> None:
        if self.busy_once:
            self.busy_once = False
            raise StoreError("the store is busy")
        self.ledger.transition(run_id, RunState.FAILED, reason=exit.reason, cause=cause)
        self.ended[run_id] = exit.reason


@pytest.fixture
def ledger(tmp_path):
    paths = StorePaths(tmp_path / "store")
    paths.ensure()
    ledger = Ledger.open(paths.db)
    yield ledger
    ledger.close()


def queued(ledger, gpus: int = 0, priority: int = 0) -> int:
    run_id = add_run(ledger, ["y"], {"n": ledger.conn.total_changes}, state="queued",
                     started=None, finished=None)
    ledger.conn.execute("UPDATE runs SET gpus = ?, priority = ? WHERE id = ?",
                        (gpus, priority, run_id))
    return run_id


def running(ledger, gpu_ids=()) -> int:
    return add_run(ledger, ["x"], {"n": ledger.conn.total_changes}, state="running",
                   started=-10, finished=None, gpu_ids=gpu_ids)


def free_ids(gate: QueueGate) -> set[int]:
    return {i for lane in gate.ready().values() for i in lane.items}


def set_column(ledger, run_id: int, column: str, value) -> None:
    ledger.conn.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, run_id))


def test_a_swap_in_the_queue_is_seen_though_count_and_id_sum_stay(ledger):
    # Queued 1 and 4 (sum 5); 2 and 3 run. Then 1 and 4 are cancelled while 2 and 3 come
    # back to the queue (their target was out of reach): two queued, sum 5 again.
    one, two, three, four = queued(ledger), running(ledger), running(ledger), queued(ledger)
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    assert free_ids(gate) == {one, four}
    for run_id in (one, four):
        ledger.transition(run_id, RunState.CANCELLED)
    for run_id in (two, three):
        ledger.transition(run_id, RunState.QUEUED, message="queued again")
    assert free_ids(gate) == {two, three}
    assert not ledger.queue_moves, "the gate took every change it was told of"


def test_a_run_waits_for_its_dependency_and_starts_once_it_succeeded(ledger):
    dep = running(ledger)
    after = queued(ledger)
    set_column(ledger, after, "depends_on", json.dumps([dep]))
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    assert free_ids(gate) == set()
    assert free_ids(gate) == set(), "still waiting on the next pass"
    ledger.transition(dep, RunState.SUCCEEDED, exit_code=0)
    assert free_ids(gate) == {after}


def test_a_run_after_a_failed_one_ends_with_the_reason(ledger):
    dep = running(ledger)
    after = queued(ledger)
    set_column(ledger, after, "depends_on", json.dumps([dep]))
    runner = Runner(ledger)
    gate = QueueGate(ledger, runner, wake=lambda: None)
    assert free_ids(gate) == set()
    ledger.transition(dep, RunState.FAILED, exit_code=1)
    assert free_ids(gate) == set()
    assert runner.ended == {after: f"dependency failed: run {dep} failed"}
    assert free_ids(gate) == set() and len(runner.ended) == 1, "ended once"


def test_runs_after_a_failed_run_all_fail_though_ending_one_failed_once(ledger):
    first = add_run(ledger, ["x"], {}, state="failed", started=-10, finished=-5, exit_code=1)
    waiting = [queued(ledger) for _ in range(3)]
    for run_id in waiting:
        set_column(ledger, run_id, "depends_on", json.dumps([first]))
    runner = Runner(ledger, busy_once=True)
    gate = QueueGate(ledger, runner, wake=lambda: None)
    for _ in range(4):
        try:
            gate.ready()
        except StoreError:
            pass                          # the scheduler's loop logs it and passes again
    states = {run_id: ledger.conn.execute("SELECT state FROM runs WHERE id = ?",
                                          (run_id,)).fetchone()[0] for run_id in waiting}
    assert states == dict.fromkeys(waiting, "failed"), "a run was left queued for good"
    assert sorted(runner.ended) == waiting, "each ended once"


def test_a_run_after_a_group_waits_for_every_run_of_it(ledger):
    group = ledger.insert_group("sweep", "s0", {})
    members = [running(ledger), queued(ledger)]
    for run_id in members:
        set_column(ledger, run_id, "group_id", group)
    after = queued(ledger)
    set_column(ledger, after, "after_groups", json.dumps([group]))
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    assert free_ids(gate) == {members[1]}
    ledger.transition(members[0], RunState.SUCCEEDED, exit_code=0)
    assert free_ids(gate) == {members[1]}, "one run of the group is still queued"
    gate.leave(members[1])
    ledger.transition(members[1], RunState.RUNNING)
    assert free_ids(gate) == set()
    ledger.transition(members[1], RunState.SUCCEEDED, exit_code=0)
    assert free_ids(gate) == {after}


def test_a_run_after_a_group_with_a_failed_run_ends(ledger):
    group = ledger.insert_group("sweep", "s0", {})
    member = running(ledger)
    set_column(ledger, member, "group_id", group)
    after = queued(ledger)
    set_column(ledger, after, "after_groups", json.dumps([group]))
    runner = Runner(ledger)
    gate = QueueGate(ledger, runner, wake=lambda: None)
    assert free_ids(gate) == set()
    ledger.transition(member, RunState.CANCELLED)
    assert free_ids(gate) == set()
    assert runner.ended == {after: f"dependency failed: group {group}: run {member} "
                                   "was cancelled"}


def _pass(ledger, gate, capacity: Capacity, read: list[int] | None = None) -> list[int]:
    """One scheduling pass as the engine makes it; the runs it starts are recorded running."""
    lane = gate.ready().get("local")
    if lane is None:
        return []
    busy = [Busy(t, g) for t, g in queue_queries.running_placements(ledger.conn)]
    walk = lane.ordered()

    def counted():
        for item in walk:
            if read is not None:
                read.append(item.run_id)
            yield item
    started = []
    for placement in place(counted(), busy, {"local": capacity}, lane.hold_gpus):
        gate.leave(placement.run_id)
        ledger.transition(placement.run_id, RunState.RUNNING, gpu_ids=list(placement.gpu_ids))
        started.append(placement.run_id)
    return started


def test_a_full_target_starts_the_next_run_once_a_slot_is_freed(ledger):
    holder = running(ledger)
    first, second = queued(ledger), queued(ledger)
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    capacity = Capacity("local", max_parallel=1)
    assert _pass(ledger, gate, capacity) == []
    assert _pass(ledger, gate, capacity) == [], "nothing starts twice, nothing is lost"
    ledger.transition(holder, RunState.SUCCEEDED, exit_code=0)
    assert _pass(ledger, gate, capacity) == [first]
    ledger.transition(first, RunState.SUCCEEDED, exit_code=0)
    assert _pass(ledger, gate, capacity) == [second]


def test_runs_waiting_for_a_busy_gpu_are_not_all_read_each_pass(ledger):
    running(ledger, gpu_ids=(0,))
    for _ in range(300):
        queued(ledger, gpus=1)
    plain = queued(ledger)
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    capacity = Capacity("local", max_parallel=8, gpu_ids=(0,))
    read: list[int] = []
    assert _pass(ledger, gate, capacity, read) == [plain], "a run asking no GPU still starts"
    assert len(read) <= 3, f"read {len(read)} runs of the lane"


def test_the_gpu_lane_keeps_queue_order_with_the_other_runs(ledger):
    holder = running(ledger, gpu_ids=(0,))
    gpu_first = queued(ledger, gpus=1)
    gpu_second = queued(ledger, gpus=1)
    plain = queued(ledger)
    urgent = queued(ledger, gpus=1, priority=5)
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    capacity = Capacity("local", max_parallel=2, gpu_ids=(0,))
    assert _pass(ledger, gate, capacity) == [plain]
    ledger.transition(holder, RunState.SUCCEEDED, exit_code=0)
    assert _pass(ledger, gate, capacity) == [urgent], "priority first, then id"
    ledger.transition(urgent, RunState.SUCCEEDED, exit_code=0)
    assert _pass(ledger, gate, capacity) == [gpu_first]
    ledger.transition(gpu_first, RunState.SUCCEEDED, exit_code=0)
    assert _pass(ledger, gate, capacity) == [gpu_second]


def test_a_run_whose_start_was_not_recorded_stays_in_the_queue(ledger):
    only = queued(ledger)
    gate = QueueGate(ledger, Runner(ledger), wake=lambda: None)
    assert free_ids(gate) == {only}
    gate.leave(only)                      # placed, but the store refused the start
    assert free_ids(gate) == {only}
