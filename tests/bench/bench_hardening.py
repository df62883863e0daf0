"""What the hardening costs and buys (issue 11), with peers in the same run where one exists.

- how long a command waits on an engine stopped with SIGSTOP before it says so (a
  task-spooler client against a stopped `tsp` server, where installed, as the peer);
- how soon a launch whose engine was killed with SIGKILL right after recording its runs
  prints their ids (the client asks the restarted engine by request id);
- the run wrapper's cost per run: `sh runwrap.sh ... -- true` beside `sh -c true`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.bench.common import BIN, REPO, Result, Workspace, make_project, median_ms

PEER_CAP = 30.0              # seconds a peer that never gives up is waited for


def bench_frozen_engine(quick: bool) -> list[Result]:
    with Workspace("frozen") as ws:
        project = make_project(ws.root / "p", git=False)
        run_id = ws.tui("launch", "--", "sleep", "300", cwd=project).stdout.strip()
        pid = int(ws.tui("engine", "status", "--json", cwd=project).stdout.split('"pid": ')[1]
                  .split(",")[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            proc = ws.tui("cancel", run_id, cwd=project, check=False)
            waited = time.monotonic() - began
        finally:
            os.kill(pid, signal.SIGCONT)
        ws.tui("cancel", run_id, cwd=project, check=False)
        peers = {}
        if shutil.which("tsp"):
            peers["tsp -l, server stopped"] = _tsp_frozen(ws.root)
        note = f"exit {proc.returncode}; RUNYARD_ENGINE_TIMEOUT default 10 s"
        if peers:
            note += f"; a peer that never answers is counted as {PEER_CAP:.0f} s"
        return [Result("client waits on a SIGSTOPped engine", waited, "s", "<= 15", peers,
                       note=note)]


def _tsp_frozen(root: Path) -> float:
    """Seconds `tsp -l` waits on a task-spooler server stopped with SIGSTOP (capped)."""
    env = {**os.environ, "TS_SOCKET": str(root / "tsp.sock")}
    subprocess.run(["tsp", "sleep", "300"], env=env, capture_output=True, check=True)
    daemon = _tsp_server(root / "tsp.sock")
    os.kill(daemon, signal.SIGSTOP)
    try:
        began = time.monotonic()
        try:
            subprocess.run(["tsp", "-l"], env=env, capture_output=True, timeout=PEER_CAP)
        except subprocess.TimeoutExpired:
            return PEER_CAP
        return time.monotonic() - began
    finally:
        os.kill(daemon, signal.SIGCONT)
        subprocess.run(["tsp", "-K"], env=env, capture_output=True)


def _tsp_server(sock: Path) -> int:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                environ = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if b"TS_SOCKET=" + os.fsencode(sock) in environ and \
                    Path(f"/proc/{name}/comm").read_text().strip() in ("tsp", "ts"):
                return int(name)
    raise RuntimeError("the tsp server was not found")


def bench_killed_mid_launch(quick: bool) -> list[Result]:
    sweep = 2000 if quick else 10_000
    with Workspace("killed") as ws:
        project = make_project(ws.root / "p", git=False)
        (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
        blocker = ws.tui("launch", "--", "sleep", "300", cwd=project).stdout.strip()
        pid = int(ws.tui("engine", "status", "--json", cwd=project).stdout.split('"pid": ')[1]
                  .split(",")[0])
        launch = subprocess.Popen(
            [str(BIN / "tui"), "launch", "--sweep", "i=" + ",".join(map(str, range(sweep))),
             "--", "echo", "{i}"], cwd=project, env=ws.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        conn = sqlite3.connect(f"file:{ws.home / 'runyard.db'}?mode=ro", uri=True)
        while conn.execute("SELECT count(*) FROM runs").fetchone()[0] <= 1:
            pass
        conn.close()
        os.kill(pid, signal.SIGKILL)
        began = time.monotonic()
        out, _err = launch.communicate(timeout=300)
        took = time.monotonic() - began
        ws.tui("cancel", blocker, cwd=project, check=False)
        printed = len(out.split())
        return [Result(f"launch of {sweep} runs, engine killed after recording: ids printed",
                       took, "s", note=f"{printed} ids, exit {launch.returncode}")]


def bench_wrapper(quick: bool) -> list[Result]:
    """Per run: the wrapper around `true`, beside the wrapper before this work (from git,
    where the history has it) and a bare `sh -c true`."""
    n = 50 if quick else 200
    with Workspace("wrapper") as ws:
        run_dir = ws.root / "run"
        run_dir.mkdir()
        shells = {"now": str(REPO / "core" / "runwrap.sh")}
        before = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_WRAPPER}:core/runwrap.sh"],
                                capture_output=True)
        if before.returncode == 0:
            (ws.root / "old.sh").write_bytes(before.stdout)
            shells["the wrapper before"] = str(ws.root / "old.sh")
        samples: dict[str, list[float]] = {name: [] for name in [*shells, "sh -c true"]}
        for _ in range(n):
            for name, script in shells.items():
                began = time.perf_counter()
                subprocess.run(["/bin/sh", script, str(run_dir), str(ws.root), "--", "true"],
                               check=True)
                samples[name].append(time.perf_counter() - began)
            began = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", "true"], check=True)
            samples["sh -c true"].append(time.perf_counter() - began)
        peers = {name: median_ms(values) for name, values in samples.items() if name != "now"}
        return [Result("run wrapper around `true` (median)", median_ms(samples["now"]), "ms",
                       peers=peers, note=f"n={n}")]


# The commit before issue 11's wrapper changes (core/runwrap.sh as it was).
OLD_WRAPPER = "a6b5120"


BENCHMARKS = [bench_frozen_engine, bench_killed_mid_launch, bench_wrapper]
