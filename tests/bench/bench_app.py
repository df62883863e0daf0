"""Benchmarks of the full-screen app, printing figures (not a timed test).

    .venv/bin/python tests/bench/bench_app.py [--quick]

1. Start-up with 10,000 runs in the store: in-process (App start to the first frame with
   rows), and the real `tui` in tmux (process start to the rows on screen), beside
   `tui status --all --json` on the same store.
2. Keypress to screen while 20 real runs each write 1,000 lines a second: the real `tui`
   in tmux, `j`/`k` sent with send-keys, timed until the selected run's header changes
   (capture-pane polling; tmux's own process start is included, so these are upper bounds).
3. A 1 GB log: time to open it (tail on screen), jump to the start, and search it from the
   end; the app's memory (RSS) before and after; `tail -n 50` on the same file as a peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from core.paths import StorePaths  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.tui.fixture_store import bulk_store, demo_store  # noqa: E402

WRITER = """
import sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
pad = "x" * 40
start, i = time.monotonic(), 0
while time.monotonic() - start < seconds:
    tick = time.monotonic()
    for _ in range(rate // 20):
        print(f"step={i} loss={1 / (i + 1):.6f} {pad}")
        i += 1
    sys.stdout.flush()
    time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))
"""


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def show(label: str, values: list[float], unit: str = "ms") -> None:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    print(f"  {label:<52} median {statistics.median(values):8.1f} {unit}   "
          f"p95 {p95:8.1f} {unit}   (n={len(values)})", flush=True)


class Tmux:
    """A private tmux server (its own socket, a new one each time) running one app."""

    made = 0

    def __init__(self, folder: Path, env: dict[str, str]):
        Tmux.made += 1
        self.socket = folder / f"tmux-{Tmux.made}.sock"
        self.env = env

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], env=self.env,
                              capture_output=True, text=True, errors="replace").stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def start(self, command: str, cwd: Path, width=80, height=24) -> None:
        self("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), "-c",
             str(cwd), command)

    def wait(self, predicate, timeout=60.0) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if predicate(self.screen()):
                return time.perf_counter() - start
            time.sleep(0.002)
        raise TimeoutError(self.screen())

    def stop(self) -> None:
        self("kill-server")


def environment(home: Path, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env.update(RUNYARD_HOME=str(home), XDG_CONFIG_HOME=str(folder / "config"),
               PYTHONPATH=str(REPO), RUNYARD_ENGINE_IDLE_EXIT="120", TERM="tmux-256color")
    return env


# ---------------------------------------------------------------- 1. start-up

MEMORY: list[float] = []


async def _open_in_process(paths: StorePaths) -> float:
    from tui.app.app import RunyardApp
    from tui.app.widgets.run_table import RunTable
    start = time.perf_counter()
    app = RunyardApp(paths, revive_engine=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunTable)
        while len(table.shown) < 10_000:
            await pilot.pause(0.001)
        await pilot.pause()
        took = time.perf_counter() - start
        MEMORY.append(rss_mb())
        return took


def bench_startup(folder: Path, repeats: int) -> None:
    print("1. start-up with 10,000 runs in the store", flush=True)
    paths = bulk_store(folder / "big", 10_000)
    before = rss_mb()
    show("in-process: App() to all 10,000 rows listed (headless)",
         [1000 * asyncio.run(_open_in_process(paths)) for _ in range(repeats)])
    print(f"  process RSS before the app {before:.0f} MB, with 10,000 runs listed "
          f"{max(MEMORY):.0f} MB")
    env = environment(paths.home, folder)
    times, cpu, cli = [], [], []
    for _ in range(repeats):
        tmux = Tmux(folder, env)
        tmux.start(f"{sys.executable} -m tui", folder, 120, 40)
        times.append(1000 * tmux.wait(lambda s: "10000" in s and "quit" in s))
        cpu.append(1000 * cpu_seconds(int(tmux("display", "-p", "-t", "app", "#{pane_pid}"))))
        tmux.stop()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tui", "status", "--all", "--json"], env=env,
                       capture_output=True, check=True)
        cli.append(1000 * (time.perf_counter() - start))
    show("real `tui` in tmux: process start to rows on screen", times)
    show("  the same, CPU time of the tui process (load-independent)", cpu)
    show("peer: `tui status --all --json` (10,000 runs)", cli)
    empty = bulk_store(folder / "small", 8)
    env = environment(empty.home, folder)
    small, small_cpu = [], []
    for _ in range(repeats):
        tmux = Tmux(folder, env)
        tmux.start(f"{sys.executable} -m tui", folder, 120, 40)
        small.append(1000 * tmux.wait(lambda s: "quit" in s and " 8 train" in s))
        small_cpu.append(1000 * cpu_seconds(int(tmux("display", "-p", "-t", "app",
                                                      "#{pane_pid}"))))
        tmux.stop()
    show("real `tui` in tmux, 8 runs (the floor: Python + Textual)", small)
    show("  the same, CPU time of the tui process", small_cpu)


# ---------------------------------------------------------------- 2. keypress latency

def bench_keypress(folder: Path, samples: int, seconds: float) -> None:
    print("2. keypress to screen while 20 runs each write 1,000 lines/s", flush=True)
    home = folder / "busy-store"
    project = folder / "busy-project"
    project.mkdir()
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 24\n")
    (project / "writer.py").write_text(WRITER)
    env = environment(home, folder)
    for load in (0, 20):
        ids = []
        for _ in range(load):
            proc = subprocess.run([sys.executable, "-m", "tui", "launch", "--", "python3",
                                   "writer.py", "1000", str(seconds)], env=env, cwd=project,
                                  capture_output=True, text=True, check=True)
            ids.append(int(proc.stdout))
        if load:
            _wait_running(env, project, ids)        # the selected run's log grows 1,000/s
        else:
            for _ in range(3):
                subprocess.run([sys.executable, "-m", "tui", "launch", "--force", "--", "true"],
                               env=env, cwd=project, capture_output=True, check=True)
        tmux = Tmux(folder, env)
        tmux.start(f"{sys.executable} -m tui", project, 120, 40)
        tmux.wait(lambda s: "quit" in s and "run " in s)
        latencies = []
        bytes_before, began = sum(_log_size(home, i) for i in ids), time.monotonic()
        for i in range(samples):
            before = _selected(tmux.screen())
            tmux("send-keys", "-t", "app", "j" if i % 2 == 0 else "k")
            start = time.perf_counter()
            while _selected(tmux.screen()) == before and time.perf_counter() - start < 10:
                time.sleep(0.001)
            if _selected(tmux.screen()) == before:
                screen = tmux.screen()
                tmux.stop()
                raise SystemExit(f"a keypress never showed within 10 s:\n{screen}")
            latencies.append(1000 * (time.perf_counter() - start))
            time.sleep(0.05)
        if load:
            took = time.monotonic() - began
            lines = (sum(_log_size(home, i) for i in ids) - bytes_before) / 70
            print(f"  (while measured, the runs wrote {lines / took:,.0f} lines/s in all, "
                  f"{lines / took / load:,.0f} each)")
        show(f"`j`/`k` to the new selection on screen, {load} busy runs", latencies)
        tmux.stop()
        if ids:
            subprocess.run([sys.executable, "-m", "tui", "cancel", *map(str, ids)], env=env,
                           cwd=project, capture_output=True)
    subprocess.run([sys.executable, "-m", "tui", "engine", "stop"], env=env,
                   capture_output=True)


def _selected(screen: str) -> str:
    for line in screen.splitlines():
        if " run " in line and "·" in line:
            return line.split("·")[0]
    return ""


def _log_size(home: Path, run_id: int) -> int:
    try:
        return (home / "runs" / str(run_id) / "output.log").stat().st_size
    except OSError:
        return 0


def _wait_running(env, project, ids) -> None:
    def all_running() -> bool:
        out = subprocess.run([sys.executable, "-m", "tui", "status", "--json"], env=env,
                             cwd=project, capture_output=True, text=True).stdout
        states = {r["id"]: r["state"] for r in json.loads(out)["runs"]}
        return all(states.get(i) == "running" for i in ids)
    wait_for(all_running, timeout=60, interval=0.2, what=f"the {len(ids)} runs to start")


# ---------------------------------------------------------------- 3. a 1 GB log

def make_gigabyte(path: Path) -> int:
    block = b"".join(b"step=%08d loss=%.6f some text of a typical training log line here\n"
                     % (i, 1 / (i + 1)) for i in range(100_000))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        while handle.tell() < 1_000_000_000:
            handle.write(block)
        handle.write(b"the last line\n")
        return handle.tell()


async def _open_log(paths: StorePaths, run_id: int) -> dict:
    from tui.app.app import RunyardApp
    from tui.app.widgets.log_view import LogView
    from tui.app.widgets.run_table import RunTable
    app = RunyardApp(paths, revive_engine=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunTable)
        log = app.screen.query_one(LogView)
        table.select_run(1)
        await pilot.pause()
        before = rss_mb()
        start = time.perf_counter()
        table.select_run(run_id)
        while "the last line" not in "".join(log.render_line(y).text
                                             for y in range(log.size.height)):
            await pilot.pause(0.001)
        opened = time.perf_counter() - start
        after_open = rss_mb()
        await pilot.press("enter")
        start = time.perf_counter()
        await pilot.press("home")
        top = time.perf_counter() - start
        start = time.perf_counter()
        await pilot.press("G")
        log.search("step=00000017 ")                   # near the start of every block
        while log.searching:
            await pilot.pause(0.001)
        searched = time.perf_counter() - start
        start = time.perf_counter()
        log.search("never-there")
        while log.searching:
            await pilot.pause(0.005)
        full_scan = time.perf_counter() - start
        return {"open": opened, "top": top, "search": searched, "scan": full_scan,
                "rss_before": before, "rss_open": after_open, "rss_end": rss_mb()}


def bench_big_log(folder: Path) -> None:
    print("3. a 1 GB log", flush=True)
    paths = demo_store(folder / "log-store")
    size = make_gigabyte(paths.output_log(6))
    subprocess.run(["sync"], check=False)
    print(f"  log size {size / 1e9:.2f} GB")
    figures = asyncio.run(_open_log(paths, 6))
    print(f"  open (tail on screen)                       {1000 * figures['open']:8.1f} ms")
    print(f"  jump to the start (home)                    {1000 * figures['top']:8.1f} ms")
    print(f"  search back from the end, near match        {1000 * figures['search']:8.1f} ms")
    print(f"  search the whole file, no match             {1000 * figures['scan']:8.1f} ms")
    print(f"  app RSS: before {figures['rss_before']:.0f} MB, after opening "
          f"{figures['rss_open']:.0f} MB, after scrolling and searching "
          f"{figures['rss_end']:.0f} MB")
    start = time.perf_counter()
    subprocess.run(["tail", "-n", "50", str(paths.output_log(6))], capture_output=True)
    print(f"  peer: tail -n 50                            "
          f"{1000 * (time.perf_counter() - start):8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter load")
    parser.add_argument("--only", choices=["startup", "keys", "log"])
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 1
    repeats, samples = (3, 10) if args.quick else (7, 30)
    with tempfile.TemporaryDirectory(prefix="runyard-bench-app-") as name:
        folder = Path(name)
        if args.only in (None, "startup"):
            bench_startup(folder, repeats)
        if args.only in (None, "keys"):
            bench_keypress(folder, samples, seconds=40 if args.quick else 90)
        if args.only in (None, "log"):
            bench_big_log(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
