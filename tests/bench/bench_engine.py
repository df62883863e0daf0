"""Benchmarks of the engine and the headless CLI (issue 2), with peers in the same run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

from tests.bench.common import BIN, Result, Workspace, make_project, median_ms, p90_ms, timed
from tests.bench.peers import Dvc, Guild, have, peer_bin
from tests.helpers import wait_for


def _settle(ws: Workspace, project: Path) -> None:
    """Wait until no run is active, so the next timing is not sharing the CPU with one."""
    ws.tui("wait", "last", "-q", cwd=project, check=False)


def bench_launch(quick: bool) -> list[Result]:
    n = 10 if quick else 40
    peer_n = 5 if quick else 15
    with Workspace("launch") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        for _ in range(3):                                  # warm engine and hash cache
            ws.tui("launch", "--force", "--", "true", cwd=project)
        samples = []
        for _ in range(n):
            _settle(ws, project)
            samples.append(timed([str(BIN / "tui"), "launch", "--force", "--", "true"], cwd=project,
                                 env=ws.env))
        peers = {}
        if peer_bin("guild"):
            guild = Guild(make_project(ws.root / "g", env=ws.env), ws.root / "guild", ws.env)
            guild.stage("noop")
            peers["guild run --stage"] = median_ms(
                [timed([str(guild.bin / "guild"), "run", "--stage", "-y", "noop"],
                       cwd=guild.project, env=guild.env) for _ in range(peer_n)])
        if peer_bin("dvc"):
            dvc = Dvc(make_project(ws.root / "d", env=ws.env), ws.env)
            dvc.run("exp", "run", "--queue", check=True)
            peers["dvc exp run --queue"] = median_ms(
                [timed([str(dvc.bin / "dvc"), "exp", "run", "--queue"], cwd=dvc.project,
                       env=dvc.env) for _ in range(peer_n)])
        return [Result("tui launch, small project (median)", median_ms(samples), "ms", "<= 30",
                       peers, note=f"p90 {p90_ms(samples):.0f} ms, n={n}")]


def bench_launch_floor(quick: bool) -> list[Result]:
    """Where a `tui launch` goes: Python's start in this venv, the CLI's imports, one
    socket round trip, the engine's work; measured interleaved, so load hits all alike."""
    import sys
    from core.client import EngineClient
    from core.paths import StorePaths
    from core.requests import LaunchRequest, PingRequest
    n = 10 if quick else 30
    with Workspace("floor") as ws:
        project = make_project(ws.root / "p", git=False, env=ws.env)
        ws.tui("launch", "--", "true", cwd=project)
        client = EngineClient(StorePaths(ws.home))
        request = LaunchRequest(cwd=str(project), env=ws.env, argv=["true"], force=True)
        samples: dict[str, list[float]] = {k: [] for k in (
            "python", "imports", "ping", "engine", "launch")}
        for _ in range(n):
            samples["python"].append(timed([sys.executable, "-c", "pass"]))
            samples["imports"].append(timed([sys.executable, "-c", "import tui.cli.main, "
                                             "tui.cli.launch"]))
            start = time.perf_counter()
            client.request(PingRequest())
            samples["ping"].append(time.perf_counter() - start)
            start = time.perf_counter()
            client.request(request)
            samples["engine"].append(time.perf_counter() - start)
            samples["launch"].append(timed([str(BIN / "tui"), "launch", "--force", "--", "true"],
                                           cwd=project, env=ws.env))
            _settle(ws, project)
        return [Result("python -c pass in the venv (median)", median_ms(samples["python"]),
                       "ms", ""),
                Result("python importing the launch command (median)",
                       median_ms(samples["imports"]), "ms", "", note="start-up included"),
                Result("socket round trip: ping (median)", median_ms(samples["ping"]), "ms", ""),
                Result("launch request, engine only, plain project (median)",
                       median_ms(samples["engine"]), "ms", ""),
                Result("tui launch, plain project (median)", median_ms(samples["launch"]), "ms",
                       "<= 30", note=f"n={n}, interleaved with the floors above")]


def bench_throughput(quick: bool) -> list[Result]:
    runs = 50 if quick else 200
    peer_runs = 10 if quick else 20
    results = []
    with Workspace("throughput") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 2\n")
        ws.tui("wait", ws.tui("launch", "--", "true", cwd=project).stdout.strip(), cwd=project)
        peers = _throughput_peers(ws, runs, peer_runs)

        start = time.perf_counter()
        ids = [ws.tui("launch", "--force", "--", "true", cwd=project).stdout.strip()
               for _ in range(runs)]
        ws.tui("wait", "-q", *ids, cwd=project)
        sequential = runs / (time.perf_counter() - start)
        results.append(Result(f"{runs} runs of `true`, one `tui launch` each, in a loop",
                              sequential, "runs/s", "", peers,
                              note="bounded by Python start-up of each CLI call"))

        start = time.perf_counter()
        out = subprocess.run(f"seq {runs} | xargs -P4 -I@ {BIN}/tui launch --force -- true",
                             shell=True, cwd=project, env=ws.env, capture_output=True,
                             text=True, check=True).stdout
        ws.tui("wait", "-q", *out.split(), cwd=project)
        results.append(Result(f"{runs} runs of `true`, `tui launch` from 4 parallel clients",
                              runs / (time.perf_counter() - start), "runs/s", ">= 100", peers))

        help_text = ws.tui("launch", "--help", cwd=project).stdout
        if "--sweep" in help_text:
            start = time.perf_counter()
            values = ",".join(str(i) for i in range(runs))
            ids = ws.tui("launch", "--sweep", f"i={values}", "--", "true", "--i", "{i}",
                         cwd=project).stdout.split()
            ws.tui("wait", "-q", *ids, cwd=project)
            results.append(Result(f"{runs} runs of `true`, one `tui launch --sweep`",
                                  runs / (time.perf_counter() - start), "runs/s", ">= 45", peers))

        from core.client import EngineClient
        from core.paths import StorePaths
        from core.requests import LaunchRequest, WaitRequest
        client = EngineClient(StorePaths(ws.home))
        request = LaunchRequest(cwd=str(project), env=ws.env, argv=["true"], force=True)
        start = time.perf_counter()
        ids = [client.request(request)["run"]["id"] for _ in range(runs)]
        client.request(WaitRequest(ids=ids))
        results.append(Result(f"{runs} runs of `true`, engine only (one client process)",
                              runs / (time.perf_counter() - start), "runs/s", ">= 45", peers,
                              note="the engine's own ceiling"))
    return results


def _throughput_peers(ws: Workspace, runs: int, peer_runs: int) -> dict[str, float]:
    peers = {}
    start = time.perf_counter()
    subprocess.run(f"seq {runs} | xargs -P2 -I@ true", shell=True, check=True)
    peers["xargs -P2"] = runs / (time.perf_counter() - start)
    if have("tsp"):
        tsp_env = {**ws.env, "TS_SOCKET": str(ws.root / "tsp.socket"), "TMPDIR": str(ws.root)}
        subprocess.run(["tsp", "-S", "2"], env=tsp_env, check=True)
        start = time.perf_counter()
        for _ in range(runs):
            subprocess.run(["tsp", "true"], env=tsp_env, check=True, capture_output=True)
        subprocess.run(["tsp", "-w"], env=tsp_env, check=False, capture_output=True)
        while "running" in subprocess.run(["tsp"], env=tsp_env, capture_output=True,
                                          text=True).stdout:
            time.sleep(0.01)
        peers["task-spooler"] = runs / (time.perf_counter() - start)
        subprocess.run(["tsp", "-K"], env=tsp_env, check=False)
    if peer_bin("guild"):
        guild = Guild(make_project(ws.root / "g", env=ws.env), ws.root / "guild", ws.env)
        start = time.perf_counter()
        for _ in range(peer_runs):
            guild.stage("noop")
        guild.drain(workers=2)
        peers[f"guild ({peer_runs} runs)"] = peer_runs / (time.perf_counter() - start)
    if peer_bin("dvc"):
        dvc = Dvc(make_project(ws.root / "d", env=ws.env), ws.env)
        start = time.perf_counter()
        for _ in range(peer_runs):
            dvc.run("exp", "run", "--queue", check=True)
        dvc.drain(workers=2)
        peers[f"dvc ({peer_runs} runs)"] = peer_runs / (time.perf_counter() - start)
    return peers


def bench_status(quick: bool) -> list[Result]:
    count = 2_000 if quick else 10_000
    peer_count = 20 if quick else 100
    with Workspace("status") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        ws.tui("wait", ws.tui("launch", "--", "true", cwd=project).stdout.strip(), cwd=project)
        ws.tui("engine", "stop", cwd=project)
        status = [str(BIN / "tui"), "status", "--json", "--all"]
        results = []
        guild_bin = peer_bin("guild")
        if guild_bin:                          # like with like: the same number of runs
            _fill_store(ws.home / "runyard.db", peer_count - 1)
            guild = Guild(make_project(ws.root / "g", env=ws.env), ws.root / "guild", ws.env)
            for _ in range(peer_count):
                guild.stage("noop")
            ours = [timed(status, cwd=project, env=ws.env) for _ in range(10)]
            theirs = [timed([str(guild_bin / "guild"), "runs", "list", "-a", "--json"],
                            cwd=guild.project, env=guild.env) for _ in range(5)]
            results.append(Result(f"tui status --json --all, {peer_count} runs (median)",
                                  median_ms(ours), "ms", "",
                                  {f"guild runs --json ({peer_count} runs)": median_ms(theirs)}))
        _fill_store(ws.home / "runyard.db", count - peer_count if guild_bin else count - 1)
        all_runs = [timed(status, cwd=project, env=ws.env) for _ in range(10)]
        default = [timed(status[:-1], cwd=project, env=ws.env) for _ in range(10)]
        size = len(ws.tui("status", "--json", "--all", cwd=project).stdout)
        results += [Result(f"tui status --json --all, {count} runs (median)", median_ms(all_runs),
                           "ms", "<= 150", note=f"{size / 1e6:.1f} MB of JSON"),
                    Result(f"tui status --json (active + recent), {count} runs", median_ms(default),
                           "ms", "<= 150")]
        return results


def _fill_store(db: Path, count: int) -> None:
    """Add `count` finished runs in bulk: the same schema the engine writes, many rows."""
    import sqlite3
    conn = sqlite3.connect(db)
    base = conn.execute("SELECT * FROM runs WHERE id = 1").fetchone()
    columns = [d[0] for d in conn.execute("SELECT * FROM runs LIMIT 0").description]
    rng = random.Random(1)
    rows = []
    for i in range(count):
        row = dict(zip(columns, base))
        lr = rng.choice([0.1, 0.03, 0.01, 0.003])
        row.update(id=None, name=f"train-{i}", state=rng.choice(["succeeded", "failed"]),
                   command=json.dumps(["python", "train.py", "--lr", str(lr)]),
                   params=json.dumps({"lr": lr, "epochs": 10, "batch_size": 32}),
                   metrics=json.dumps({"loss": rng.random(), "acc": rng.random(),
                                       "val_loss": rng.random(), "epoch": 10}))
        rows.append([row[c] for c in columns])
    conn.executemany(f"INSERT INTO runs VALUES ({','.join('?' * len(columns))})", rows)
    conn.commit()
    conn.close()


def _cache_filled(snap, cache: dict) -> bool:
    cache.update(snap.fresh_hashes)
    return len(cache) >= snap.file_count


def bench_snapshot(quick: bool) -> list[Result]:
    from core.store.blobs import BlobStore
    from core.config import SnapshotConfig, find_project
    from core.store.snapshot import take
    with Workspace("snapshot") as ws:
        project = make_project(ws.root / "p", files=2000, env=ws.env)
        blobs = BlobStore(ws.root / "blobs")
        cache: dict = {}
        old = time.time() - 60                          # files older than the cache's racy window
        for path in project.rglob("*.py"):
            os.utime(path, (old, old))
        # The hash cache keeps a file only once its ctime is past the racy window (2 s): until
        # then every take hashes all 2,000 files again, which is not what is measured here.
        wait_for(lambda: _cache_filled(take(find_project(project), SnapshotConfig(), blobs,
                                            cache), cache), timeout=60, interval=0.2,
                 what="the hash cache to hold every file")
        target = project / "pkg" / "mod0" / "f0.py"
        samples = []
        for i in range(10 if quick else 30):
            target.write_text(f"VALUE = {i}\n")
            start = time.perf_counter()
            snap = take(find_project(project), SnapshotConfig(), blobs, cache)
            samples.append(time.perf_counter() - start)
            cache.update(snap.fresh_hashes)
        launches = []
        for i in range(5 if quick else 15):
            target.write_text(f"VALUE = {i + 100}\n")
            launches.append(timed([str(BIN / "tui"), "launch", "--", "true"], cwd=project,
                                  env=ws.env))
            ws.tui("wait", "last", "-q", cwd=project, check=False)
        walks = {"git status": median_ms([timed(["git", "status", "--porcelain"], cwd=project)
                                          for _ in range(5)]),
                 "git ls-files -s": median_ms([timed(["git", "ls-files", "-s"], cwd=project)
                                               for _ in range(5)])}
        peers = {}
        guild_bin = peer_bin("guild")
        if guild_bin:
            guild = Guild(project, ws.root / "guild", ws.env)
            peers["guild run --stage"] = median_ms(
                [timed([str(guild_bin / "guild"), "run", "--stage", "-y", "noop"],
                       cwd=project, env=guild.env) for _ in range(3 if quick else 8)])
        return [Result(f"snapshot of a {snap.file_count}-file git project, one file changed",
                       median_ms(samples), "ms", "<= 15", walks),
                Result("tui launch on that project, one file changed (median)",
                       median_ms(launches), "ms", "", peers)]


BENCHMARKS = [bench_launch, bench_launch_floor, bench_throughput, bench_status,
              bench_snapshot]
