"""Benchmarks of finding the best run, printing figures (not a timed test).

    .venv/bin/python tests/bench/bench_results.py [--quick] [--peer-tree /path/to/other/checkout]

1. Keys from app start (no config) to "the sweep ranked by val_acc, best run selected" and
   to "three runs' val_acc curves overlaid", driven in the real `tui` in tmux (80x24) on a
   3 x 2 sweep, each end state checked on screen; the time each path took.
2. The compare view on 50 runs with 10,000 points each (val_acc and loss): in-process, `C`
   to the table and the chart drawn; in tmux, `C` to the chart on screen. Peers in the same
   run: reading the 500,000 points with the named query alone, and `tui compare --group 1
   --csv` on the same store.
3. Idle CPU of the real `tui` in tmux (run list, and the compare view open), over 20 s of
   nothing happening; with --peer-tree, the same app of another checkout (say the main
   branch) on the same store, as the peer that must not be beaten by much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from core.paths import StorePaths  # noqa: E402
from core.store.ledger import Ledger  # noqa: E402
from tests.bench.bench_app import Tmux, cpu_seconds, environment, show  # noqa: E402
from tests.tui.fixture_store import T0, iso  # noqa: E402
from tests.tui.sweep_store import sweep_store  # noqa: E402


# ---------------------------------------------------------------- 1. keys to the answer

def _hotkey(screen: str, column: str) -> str:
    return next(m.group(1) for line in screen.splitlines()
                if (m := re.search(rf"\s([1-9a-z]) {column}\s", line)))


def bench_keys(folder: Path) -> None:
    print("1. keys from app start to the answer (real tui in tmux, 80x24, no config)",
          flush=True)
    paths = sweep_store(folder / "keys-store", running=False)
    env = environment(paths.home, folder)
    env["XDG_STATE_HOME"] = str(folder / "state-keys")
    for goal in ("ranked", "overlaid"):
        tmux = Tmux(folder, env)
        tmux.start(f"{sys.executable} -m tui --reset-view", folder, 80, 24)
        tmux.wait(lambda s: "val_acc" in s and "quit" in s)
        start = time.perf_counter()
        keys = ["s"]
        tmux("send-keys", "-t", "app", "s")
        tmux.wait(lambda s: "sort by" in s)
        screen = tmux.screen()
        keys.append(_hotkey(screen, "val_acc"))
        tmux("send-keys", "-t", "app", keys[-1])
        tmux.wait(lambda s: "val_acc↓" in s and "run 3 train" in s and "sort by" not in s)
        if goal == "overlaid":
            for key in ("Space", "Space", "Space", "C"):
                keys.append(key)
                tmux("send-keys", "-t", "app", key)
            tmux.wait(lambda s: "compare 3 runs: 3, 4, 5" in s and "└" in s
                      and "val_acc ·" in s)
        took = 1000 * (time.perf_counter() - start)
        what = "the sweep ranked by val_acc, best run (3) selected" if goal == "ranked" \
            else "three runs' val_acc curves overlaid (compare view)"
        print(f"  {what:<52} {len(keys)} keys ({' '.join(keys)}), {took:6.0f} ms on screen")
        tmux.stop()


# ---------------------------------------------------------------- 2. compare 50 x 10,000

def big_sweep(home: Path, runs: int, points: int) -> StorePaths:
    """`runs` finished runs of one sweep with `points` points of val_acc and of loss."""
    paths = StorePaths(home)
    paths.ensure()
    ledger = Ledger.open(paths.db)
    conn = ledger.conn
    group = ledger.insert_group("sweep", "big-sweep", {"keys": ["lr", "seed"]})
    conn.execute("BEGIN")
    for i in range(1, runs + 1):
        lr, seed = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5], i // 5
        argv = ["python", "train.py", "--lr", str(lr), "--seed", str(seed)]
        rate = 0.0002 + 0.00005 * (i % 7)
        acc = [0.5 + 0.45 * (1 - (1 - rate) ** s) for s in range(points)]
        loss = [0.7 * (1 - rate) ** s + 0.05 for s in range(points)]
        cur = conn.execute(
            "INSERT INTO runs (name, state, target, command, template, params, metrics, "
            "project, created_at, started_at, finished_at, group_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ("train", "succeeded", "local", json.dumps(argv), json.dumps(argv),
             json.dumps({"lr": lr, "seed": seed}),
             json.dumps({"val_acc": acc[-1], "loss": loss[-1]}), "/work/project",
             iso(i), iso(i + 1), iso(i + 600), group))
        run_id = cur.lastrowid
        conn.executemany("INSERT INTO metrics (run_id, key, step, value, at) VALUES (?,?,?,?,?)",
                         [(run_id, k, s, v, T0) for k, values in (("val_acc", acc),
                                                                   ("loss", loss))
                          for s, v in enumerate(values)])
    conn.execute("INSERT INTO events (run_id, at, kind, state, message) "
                 "SELECT id, created_at, 'state', state, state FROM runs")
    conn.execute("COMMIT")
    ledger.close()
    return paths


async def _compare_in_process(paths: StorePaths, count: int) -> tuple[float, float]:
    from tui.app.app import RunyardApp
    from tui.app.screens.compare import CompareScreen
    from tui.app.widgets.metric_chart import MetricChart
    from tui.app.widgets.run_table import RunTable
    app = RunyardApp(paths, revive_engine=False, reset_view=True)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(RunTable)
        while len(table.rows) < count:
            await pilot.pause(0.001)
        await pilot.press("A")
        start = time.perf_counter()
        await pilot.press("C")
        while not isinstance(app.screen, CompareScreen):
            await pilot.pause(0.001)
        chart = app.screen.query_one(MetricChart)
        while "┌" not in chart.render().plain:
            await pilot.pause(0.001)
        opened = time.perf_counter() - start
        start = time.perf_counter()
        await pilot.press("j")                  # the next metric: 500,000 more points
        while "┌" not in chart.render().plain:
            await pilot.pause(0.001)
        return opened, time.perf_counter() - start


def bench_compare(folder: Path, repeats: int, runs: int = 50, points: int = 10_000) -> None:
    print(f"2. the compare view on {runs} runs x {points:,} points", flush=True)
    began = time.perf_counter()
    paths = big_sweep(folder / "compare-store", runs, points)
    print(f"  (store written in {time.perf_counter() - began:.1f} s)")
    figures = [asyncio.run(_compare_in_process(paths, runs)) for _ in range(repeats)]
    show("in-process: `C` to table and chart drawn (160x48)", [1000 * o for o, _ in figures])
    show("in-process: `j`, the next metric's 50 curves drawn", [1000 * m for _, m in figures])
    from core.store import db
    from core.store import metric_queries
    reads = []
    for _ in range(repeats):
        conn = db.connect(paths.db)
        start = time.perf_counter()
        found = metric_queries.metric_series_of_runs(conn, list(range(1, runs + 1)), "val_acc")
        reads.append(1000 * (time.perf_counter() - start))
        conn.close()
    assert sum(len(v) for v in found.values()) == runs * points
    show(f"peer: the named query alone, {runs * points:,} points", reads)
    env = environment(paths.home, folder)
    env["XDG_STATE_HOME"] = str(folder / "state-compare")
    cli = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tui", "compare", "--group", "1", "--csv"],
                       env=env, capture_output=True, check=True)
        cli.append(1000 * (time.perf_counter() - start))
    show("peer: `tui compare --group 1 --csv` (last values)", cli)
    screen_times = []
    for _ in range(repeats):
        tmux = Tmux(folder, env)
        tmux.start(f"{sys.executable} -m tui --reset-view", folder, 160, 48)
        tmux.wait(lambda s: "quit" in s and "big-sweep" not in s and " 50 " in s)
        tmux("send-keys", "-t", "app", "A")
        tmux.wait(lambda s: "50 marked" in s)
        start = time.perf_counter()
        tmux("send-keys", "-t", "app", "C")
        tmux.wait(lambda s: f"compare {runs} runs" in s and "└" in s)
        screen_times.append(1000 * (time.perf_counter() - start))
        tmux.stop()
    show("real tui in tmux: `C` to the chart on screen", screen_times)


# ---------------------------------------------------------------- 3. idle CPU

def _idle(folder: Path, env: dict, tree: Path, keys: list[str], seconds: float) -> float:
    env = {**env, "PYTHONPATH": str(tree)}
    tmux = Tmux(folder, env)
    tmux.start(f"{sys.executable} -m tui", tree, 120, 40)
    tmux.wait(lambda s: "quit" in s)
    for key in keys:
        tmux("send-keys", "-t", "app", key)
    time.sleep(2.0)                                  # let the keys' work finish
    pid = int(tmux("display", "-p", "-t", "app", "#{pane_pid}"))
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)                              # measuring idleness: nothing to poll
    used = cpu_seconds(pid) - before
    took = time.monotonic() - start
    tmux.stop()
    return 100 * used / took


def bench_idle(folder: Path, seconds: float, peer: Path | None) -> None:
    print(f"3. idle CPU over {seconds:.0f} s (real tui in tmux, 120x40, 3 x 2 sweep)",
          flush=True)
    paths = sweep_store(folder / "idle-store", running=False)
    env = environment(paths.home, folder)
    env["XDG_STATE_HOME"] = str(folder / "state-idle")
    trees = [("this checkout", REPO)] + ([("peer: " + str(peer), peer)] if peer else [])
    for name, tree in trees:
        listed = _idle(folder, env, tree, [], seconds)
        print(f"  {name:<40} run list {listed:5.2f}% CPU", flush=True)
    compare = _idle(folder, env, REPO, ["A", "C"], seconds)
    print(f"  {'this checkout':<40} compare view open {compare:5.2f}% CPU", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--only", choices=["keys", "compare", "idle"])
    parser.add_argument("--peer-tree", type=Path,
                        help="another checkout whose app is measured idle as the peer")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 1
    repeats = 3 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="runyard-bench-results-") as name:
        folder = Path(name)
        if args.only in (None, "keys"):
            bench_keys(folder)
        if args.only in (None, "compare"):
            bench_compare(folder, repeats)
        if args.only in (None, "idle"):
            bench_idle(folder, 10 if args.quick else 20, args.peer_tree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
