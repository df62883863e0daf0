"""Benchmarks of scale (issue 15): 10,000 queued runs, a 10-step chain of 1,000-run sweeps,
a 20,000-run request, a 50,000-file project and its per-run copy, with peers in the run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from tests.bench.common import BIN, Result, Workspace, make_project, median_ms, timed
from tests.bench.peers import have


def _queue(ws: Workspace, project: Path, slots: int) -> str:
    """A store whose `slots` are all held by one long run: what is launched now queues."""
    (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {slots}\n")
    return ws.tui("launch", "--", "sleep", "600", cwd=project).stdout.strip()


def _chain_file(project: Path, steps: int, runs: int) -> Path:
    text = ""
    for step in range(steps):
        text += (f'[[step]]\nname = "s{step}"\ncommand = "true {{i}} {step}"\n'
                 f'sweep = {{ i = "range(0,{runs})" }}\n')
        if step:
            text += f'after = ["s{step - 1}"]\n'
    path = project / f"chain{steps}x{runs}.toml"
    path.write_text(text)
    return path


def _latencies(ws: Workspace, project: Path, n: int) -> tuple[list[float], list[float]]:
    """`tui launch` (it queues) and `tui engine status`, interleaved."""
    launch, status = [], []
    for _ in range(n):
        launch.append(timed([str(BIN / "tui"), "launch", "--force", "--", "true"], cwd=project,
                            env=ws.env))
        status.append(timed([str(BIN / "tui"), "engine", "status"], cwd=project, env=ws.env))
    return launch, status


def _engine_pid(ws: Workspace) -> int:
    return json.loads((ws.home / "engine.json").read_text())["pid"]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count(ws: Workspace, project: Path, state: str) -> int:
    out = json.loads(ws.tui("engine", "status", "--json", cwd=project).stdout)
    return out["engine"]["runs"].get(state, 0)


def _drain_rate(ws: Workspace, project: Path, seconds: float) -> float:
    """Runs ended per second over `seconds` (the queue stays long all the while)."""
    before, start = _count(ws, project, "succeeded"), time.perf_counter()
    time.sleep(seconds)                     # a measuring window, not a wait for a condition
    return (_count(ws, project, "succeeded") - before) / (time.perf_counter() - start)


def _peer_rates(ws: Workspace, runs: int, slots: int) -> dict[str, float]:
    peers = {}
    start = time.perf_counter()
    subprocess.run(f"seq {runs} | xargs -P{slots} -I@ true", shell=True, check=True)
    peers[f"xargs -P{slots}"] = runs / (time.perf_counter() - start)
    if have("tsp"):
        tsp_env = {**ws.env, "TS_SOCKET": str(ws.root / "tsp.socket"), "TMPDIR": str(ws.root)}
        subprocess.run(["tsp", "-S", str(slots)], env=tsp_env, check=True)
        start = time.perf_counter()
        for _ in range(runs):
            subprocess.run(["tsp", "true"], env=tsp_env, check=True, capture_output=True)
        subprocess.run(["tsp", "-w"], env=tsp_env, check=False, capture_output=True)
        peers["task-spooler"] = runs / (time.perf_counter() - start)
        subprocess.run(["tsp", "-K"], env=tsp_env, check=False)
    return peers


def bench_queue_10k(quick: bool) -> list[Result]:
    queued, slots, window = (2000 if quick else 10_000), 4, (5.0 if quick else 10.0)
    with Workspace("queue") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        blocker = _queue(ws, project, slots=1)
        start = time.perf_counter()
        ws.tui("launch", "--sweep", f"i=range(0,{queued})", "--", "true", "{i}", cwd=project)
        record = time.perf_counter() - start
        launch, status = _latencies(ws, project, 5 if quick else 15)
        pid = _engine_pid(ws)
        cpu, start = _cpu_seconds(pid), time.perf_counter()
        time.sleep(window)                  # a measuring window: the engine idles, queue full
        idle = (_cpu_seconds(pid) - cpu) / (time.perf_counter() - start) * 100
        (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {slots}\n")
        ws.tui("cancel", blocker, cwd=project)
        ws.tui("launch", "--", "true", cwd=project)         # the engine reads the new config
        rate = _drain_rate(ws, project, window)
        peers = _peer_rates(ws, 1000, slots)
        return [
            Result(f"tui launch --sweep of {queued} runs, recorded (CLI)", record * 1000, "ms",
                   "<= 10000"),
            Result(f"tui launch with {queued} queued (median)", median_ms(launch), "ms",
                   "<= 100"),
            Result(f"tui engine status with {queued} queued (median)", median_ms(status), "ms",
                   "<= 50"),
            Result(f"engine CPU idle with {queued} queued", idle, "%", "<= 10"),
            Result(f"runs of `true` ended per second, {queued} queued, max_parallel {slots}",
                   rate, "runs/s", ">= 100", peers, note=f"over {window:.0f} s"),
        ]


def bench_cancel_10k(quick: bool) -> list[Result]:
    queued = 2000 if quick else 10_000
    with Workspace("cancel") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        blocker = _queue(ws, project, slots=1)
        ws.tui("launch", "--sweep", f"i=range(0,{queued})", "--", "true", "{i}", cwd=project)
        first = int(blocker) + 1              # a sweep's runs get consecutive ids
        ids = [str(i) for i in range(first, first + queued)]
        took = timed([str(BIN / "tui"), "cancel", *ids], cwd=project, env=ws.env)
        left = _count(ws, project, "queued")
        ws.tui("cancel", blocker, cwd=project)
        return [Result(f"tui cancel of {queued} queued runs", took * 1000, "ms", "",
                       note=f"{left} left queued")]


def bench_wait_many(quick: bool) -> list[Result]:
    runs, slots = (500 if quick else 2000), 4
    with Workspace("wait") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        blocker = _queue(ws, project, slots=1)
        ws.tui("launch", "--sweep", f"i=range(0,{runs})", "--", "true", "{i}", cwd=project)
        first = int(blocker) + 1              # a sweep's runs get consecutive ids
        waiter = subprocess.Popen([str(BIN / "tui"), "wait", "--quiet",
                                   *(str(i) for i in range(first, first + runs))],
                                  cwd=project, env=ws.env, stdout=subprocess.DEVNULL)
        (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {slots}\n")
        pid = _engine_pid(ws)
        cpu, start = _cpu_seconds(pid), time.perf_counter()
        ws.tui("cancel", blocker, cwd=project)
        ws.tui("launch", "--", "true", cwd=project)         # the engine reads the new config
        waiter.wait(timeout=600)
        took = time.perf_counter() - start
        busy = _cpu_seconds(pid) - cpu
        return [Result(f"{runs} runs of `true` drained while `tui wait` watches them all",
                       took * 1000, "ms", "", note=f"engine CPU {busy:.1f} s")]


def bench_chain(quick: bool) -> list[Result]:
    steps, runs, slots = (10, 200, 4) if quick else (10, 1000, 4)
    with Workspace("chain") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        blocker = _queue(ws, project, slots=1)
        chain = _chain_file(project, steps, runs)
        dry = timed([str(BIN / "tui"), "launch", "--dry-run", "--file", chain.name],
                    cwd=project, env=ws.env)
        record = timed([str(BIN / "tui"), "launch", "--json", "--file", chain.name],
                       cwd=project, env=ws.env)
        launch, status = _latencies(ws, project, 5 if quick else 15)
        pid = _engine_pid(ws)
        (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {slots}\n")
        ws.tui("cancel", blocker, cwd=project)
        ws.tui("launch", "--", "true", cwd=project)
        cpu, start = _cpu_seconds(pid), time.perf_counter()
        rate = _drain_rate(ws, project, 5.0 if quick else 15.0)
        busy = (_cpu_seconds(pid) - cpu) / (time.perf_counter() - start) * 100
        # Idle-waiting on dependencies: step 0 held by a long run, everything else waits.
        waiting = Workspace("chain-idle")
        try:
            other = make_project(waiting.root / "p", env=waiting.env)
            held = _queue(waiting, other, slots=1)
            idle_chain = _chain_file(other, steps, runs)
            waiting.tui("launch", "--file", idle_chain.name, cwd=other)
            wpid = _engine_pid(waiting)
            cpu, start = _cpu_seconds(wpid), time.perf_counter()
            time.sleep(5.0)                 # a measuring window: nothing can start
            idle = (_cpu_seconds(wpid) - cpu) / (time.perf_counter() - start) * 100
            waiting.tui("cancel", held, cwd=other)
        finally:
            waiting.close()
        total = steps * runs
        return [
            Result(f"tui launch --dry-run of a {steps}x{runs} chain", dry * 1000, "ms",
                   "<= 10000"),
            Result(f"tui launch --json of a {steps}x{runs} chain ({total} runs), recorded",
                   record * 1000, "ms", "<= 10000"),
            Result("tui launch with that chain queued (median)", median_ms(launch), "ms",
                   "<= 100"),
            Result("tui engine status with that chain queued (median)", median_ms(status),
                   "ms", "<= 50"),
            Result(f"runs of `true` through the chain per second, max_parallel {slots}", rate,
                   "runs/s", ">= 100", note=f"engine CPU {busy:.0f}% of a core meanwhile"),
            Result("engine CPU while the chain waits on a dependency", idle, "%", "<= 10"),
        ]


def bench_request_20k(quick: bool) -> list[Result]:
    runs = 2000 if quick else 10_000
    with Workspace("request") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        blocker = _queue(ws, project, slots=1)
        chain = _chain_file(project, 2, runs)
        dry = timed([str(BIN / "tui"), "launch", "--dry-run", "--json", "--file", chain.name],
                    cwd=project, env=ws.env)
        start = time.perf_counter()
        proc = ws.tui("launch", "--json", "--file", chain.name, cwd=project)
        record = time.perf_counter() - start
        ws.tui("cancel", blocker, cwd=project)          # a run outlives its engine: end it
        return [Result(f"tui launch --json of a chain of two {runs}-run sweeps", record * 1000,
                       "ms", "<= 10000", note=f"reply {len(proc.stdout) / 1024:.1f} KB"),
                Result("tui launch --dry-run --json of the same", dry * 1000, "ms",
                       "<= 10000")]


def bench_big_project(quick: bool) -> list[Result]:
    files = 10_000 if quick else 50_000
    results = []
    with Workspace("big") as ws:
        for git in (True, False):
            kind = "git" if git else "plain"
            project = make_project(ws.root / kind, files=files, git=git, env=ws.env)
            first = timed([str(BIN / "tui"), "launch", "--", "true"], cwd=project, env=ws.env)
            ws.tui("wait", "last", "-q", cwd=project, check=False)
            again = []
            for _ in range(3 if quick else 5):
                again.append(timed([str(BIN / "tui"), "launch", "--force", "--", "true"],
                                   cwd=project, env=ws.env))
                ws.tui("wait", "last", "-q", cwd=project, check=False)
            peers = {}
            if git:
                peers["git status"] = median_ms([timed(["git", "status", "--porcelain"],
                                                       cwd=project) for _ in range(3)])
                peers["git ls-files -s"] = median_ms([timed(["git", "ls-files", "-s"],
                                                            cwd=project) for _ in range(3)])
            results += [Result(f"first tui launch, {files}-file {kind} project", first * 1000,
                               "ms", ""),
                        Result(f"tui launch once hashed, {files}-file {kind} project (median)",
                               median_ms(again), "ms", "<= 1000", peers)]
        results += _per_run_code(ws, files)
    return results


def _per_run_code(ws: Workspace, files: int) -> list[Result]:
    """What a run's code folder costs: the overlay the engine gave the runs above (a tree
    of hard links per snapshot, then the run's changes), against a private copy."""
    from core.config import SnapshotConfig, find_project
    from core.executors import overlay
    from core.store import trees
    from core.store.blobs import BlobStore
    from core.store.snapshot import materialize, take
    runs = sorted((ws.home / "runs").iterdir(), key=lambda p: int(p.name))
    overlaid = [run for run in runs if (run / overlay.MARK).exists()]
    how = "overlay" if overlaid else f"copies: {overlay.problem(ws.root / 'probe')}"
    grown = statistics.median(_disk_bytes(run) for run in (overlaid or runs))
    blobs = BlobStore(ws.root / "copy-blobs")
    snap = take(find_project(ws.root / "plain"), SnapshotConfig(), blobs, {})
    copies, mounts = [], []
    for i in range(3):
        start = time.perf_counter()
        materialize(snap.id, blobs, ws.root / f"copy{i}")
        copies.append(time.perf_counter() - start)
    start = time.perf_counter()
    lower = trees.tree(snap.id, blobs, ws.root / "trees")
    tree_ms = (time.perf_counter() - start) * 1000
    pool, tree_kb = subprocess.run(["du", "-sk", str(ws.root / "trees" / "pool"), str(lower)],
                                   capture_output=True, text=True, check=True).stdout.split()[::2]
    edited = next(p for p in sorted((ws.root / "plain").rglob("*")) if p.is_file())
    edited.write_text(edited.read_text() + "# edited\n")
    snap2 = take(find_project(ws.root / "plain"), SnapshotConfig(), blobs, {})
    start = time.perf_counter()
    trees.tree(snap2.id, blobs, ws.root / "trees")
    next_tree_ms = (time.perf_counter() - start) * 1000
    if overlay.problem(ws.root / "probe") is None:
        for i in range(5):
            run_dir = ws.root / f"ov{i}"
            run_dir.mkdir()
            start = time.perf_counter()
            overlay.prepare(run_dir, lower)
            subprocess.run(overlay.command(lower, run_dir / "code", run_dir / overlay.WORK,
                                           ["true"]), check=True)
            mounts.append(time.perf_counter() - start)
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(ws.root / "copy0"), str(ws.root / "cp-peer")], check=True)
    cp_peer = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    subprocess.run(["cp", "-al", str(ws.root / "copy0"), str(ws.root / "link-peer")], check=True)
    link_peer = (time.perf_counter() - start) * 1000
    copied = "reflinks" if blobs.reflinks else "copies, no reflinks here"
    out = [Result(f"store growth per run of the unchanged {files}-file project", grown / 2**20,
                  "MB", "<= 5", note=f"{len(overlaid or runs)} runs, {how}"),
           Result(f"its shared tree, first snapshot: build ({int(tree_kb) // 1024} MB of links "
                  f"over a {int(pool) // 1024} MB pool)", tree_ms, "ms", "", {"cp -r": cp_peer}),
           Result("the shared tree of the next snapshot (one file edited)", next_tree_ms, "ms",
                  "", {"cp -al": link_peer})]
    if mounts:
        out.append(Result("a run's overlay code folder: prepare and mount (median)",
                          median_ms(mounts), "ms", "", note="the run's `true` included"))
    return out + [Result(f"a run's private copy (code = \"copy\") of the {files}-file project "
                         "(median)", median_ms(copies), "ms", "", {"cp -r": cp_peer}, note=copied)]


def _disk_bytes(folder: Path) -> int:
    """Blocks the folder's files take (what `du` counts), shared reflinked blocks included."""
    out = subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0]) * 1024


BENCHMARKS = [bench_queue_10k, bench_cancel_10k, bench_wait_many, bench_chain, bench_request_20k, bench_big_project]
