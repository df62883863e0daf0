"""The queue gate's bookkeeping: runs waiting for another are settled once each, even when
ending one of them fails for a while (a busy store)."""

import json

from core.engine.queue_gate import QueueGate
from core.errors import StoreError
from core.models import RunState
from core.paths import StorePaths
from core.store.ledger import Ledger
from tests.tui.fixture_store import add_run


class Runner:
    """The engine's runner as the gate uses it: `finish` records the end, failing the first
    time as a store held by another program does."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.busy_once = True
        self.ended: list[int] = []

    def finish(self, run_id, exit, cause=None) -> None:
        if self.busy_once:
            self.busy_once = False
            raise StoreError("the store is busy")
        self.ledger.transition(run_id, RunState.FAILED, reason=exit.reason)
        self.ended.append(run_id)


def test_runs_after_a_failed_run_all_fail_though_ending_one_failed_once(tmp_path):
    paths = StorePaths(tmp_path / "store")
    paths.ensure()
    ledger = Ledger.open(paths.db)
    first = add_run(ledger, ["x"], {}, state="failed", started=-10, finished=-5, exit_code=1)
    waiting = [add_run(ledger, ["y"], {"i": i}, state="queued", started=None, finished=None)
               for i in range(3)]
    for run_id in waiting:
        ledger.conn.execute("UPDATE runs SET depends_on = ? WHERE id = ?",
                            (json.dumps([first]), run_id))
    runner = Runner(ledger)
    gate = QueueGate(ledger.conn, runner, wake=lambda: None)
    for _ in range(4):
        try:
            gate.ready()
        except StoreError:
            pass                          # the scheduler's loop logs it and passes again
    states = {run_id: ledger.conn.execute("SELECT state FROM runs WHERE id = ?",
                                          (run_id,)).fetchone()[0] for run_id in waiting}
    assert states == dict.fromkeys(waiting, "failed"), "a run was left queued for good"
    assert sorted(runner.ended) == waiting, "each ended once"
    ledger.close()
