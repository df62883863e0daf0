"""A store whose leaderboard is known: a 3 x 2 sweep (lr x seed) with val_acc and loss curves.

Written through the engine's writer (core.store.ledger) with fixed times, like the demo
store. By last val_acc the order is 0.91, 0.89, 0.86, 0.84, 0.80, 0.5; by best val_acc the
lr=0.1 seed=0 run (it peaked at 0.85 and fell back to 0.80) moves up to fourth.
"""

from __future__ import annotations

from pathlib import Path

from core.paths import StorePaths
from core.store.ledger import Ledger
from tests.tui.fixture_store import _set, add_run, write_log

# (lr, seed, state, val_acc per evaluation, loss per evaluation)
SWEEP = [
    (0.1, 0, "succeeded", [0.6, 0.7, 0.78, 0.83, 0.85, 0.82, 0.80], [0.6, 0.5, 0.45, 0.41, 0.38, 0.39, 0.40]),
    (0.1, 1, "succeeded", [0.6, 0.7, 0.76, 0.8, 0.82, 0.83, 0.84], [0.6, 0.5, 0.45, 0.41, 0.39, 0.37, 0.36]),
    (0.03, 0, "succeeded", [0.55, 0.7, 0.8, 0.86, 0.89, 0.9, 0.91], [0.65, 0.5, 0.4, 0.3, 0.26, 0.23, 0.22]),
    (0.03, 1, "succeeded", [0.55, 0.68, 0.79, 0.85, 0.87, 0.88, 0.89], [0.65, 0.52, 0.41, 0.33, 0.28, 0.26, 0.25]),
    (0.01, 0, "running", [0.5, 0.62, 0.74, 0.81, 0.86], [0.69, 0.55, 0.44, 0.36, 0.30]),
    (0.01, 1, "failed", [0.5], [0.69]),
]
# Ranked by last val_acc, best first: run ids in the order of SWEEP are 1..6.
BY_LAST_VAL_ACC = [3, 4, 5, 2, 1, 6]
BY_BEST_VAL_ACC = [3, 4, 5, 1, 2, 6]
BY_LOSS = [3, 4, 5, 2, 1, 6]


def sweep_store(home: Path, points_per_eval: int = 1, running: bool = True) -> StorePaths:
    """The sweep (group 1, named `lr-sweep`), then one run launched alone (run 7).

    `running=False` records run 5 as stopped instead: the CLI revives an engine for a
    store with running runs, and it would find no process and call the run lost."""
    paths = StorePaths(home)
    paths.ensure()
    ledger = Ledger.open(paths.db)
    group = ledger.insert_group("sweep", "lr-sweep", {"axes": {"lr": "0.1,0.03,0.01",
                                                               "seed": "0,1"},
                                                      "keys": ["lr", "seed"], "mode": "grid"})
    for i, (lr, seed, state, val_acc, loss) in enumerate(SWEEP):
        state = state if running or state != "running" else "stopped"
        argv = ["python", "train.py", "--lr", str(lr), "--seed", str(seed)]
        finished = None if state == "running" else -3000 + 300 * i
        run_id = add_run(ledger, argv, {"lr": lr, "seed": seed, "epochs": 7}, state=state,
                         started=-3600 + 300 * i, finished=finished,
                         metrics={"val_acc": _stretch(val_acc, points_per_eval),
                                  "loss": _stretch(loss, points_per_eval)},
                         exit_code={"failed": 1, "succeeded": 0}.get(state),
                         reason="exit code 1" if state == "failed" else None)
        _set(ledger.conn, run_id, group_id=group)
        write_log(paths, run_id, "".join(f"epoch={e + 1} val_acc={a} loss={b}\n" for e, (a, b)
                                         in enumerate(zip(val_acc, loss))).encode())
    add_run(ledger, ["python", "eval.py"], {"split": "val"}, state="succeeded", started=-200,
            finished=-100, metrics={"val_acc": [0.7]}, exit_code=0)
    ledger.close()
    return paths


def _stretch(values: list[float], points: int) -> list[float]:
    """Each evaluation repeated `points` times (a long curve with the same ranking)."""
    return [v for v in values for _ in range(points)]
