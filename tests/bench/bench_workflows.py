"""Benchmarks of workflows (issue 6): sweep launch, plan preview, cache hits, stop-rule checks."""

from __future__ import annotations

import statistics
import time

from core.requests import LaunchRequest, PlanRequest
from tests.bench.common import BIN, Result, Workspace, make_project, median_ms, timed
from tests.bench.peers import Guild, peer_bin


def _client(ws: Workspace):
    from core.client import EngineClient
    from core.paths import StorePaths
    return EngineClient(StorePaths(ws.home))


def bench_sweep_launch(quick: bool) -> list[Result]:
    runs = 200
    reps = 3 if quick else 7
    with Workspace("sweep") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 2\n")
        ws.tui("wait", ws.tui("launch", "--", "true", cwd=project).stdout.strip(), cwd=project)
        sweep = ["--sweep", f"i=range(0,{runs})"]
        cli = [timed([str(BIN / "tui"), "launch", "--force", *sweep, "--", "true", "--i", "{i}"],
                     cwd=project, env=ws.env) for _ in range(reps)]
        ws.tui("wait", "-q", "last", cwd=project)
        client = _client(ws)
        request = LaunchRequest(cwd=str(project), env=ws.env, argv=["true", "--i", "{i}"],
                                sweep=[f"i=range(0,{runs})"], force=True)
        engine, plans = [], []
        for _ in range(reps):
            start = time.perf_counter()
            reply = client.request(request)
            engine.append(time.perf_counter() - start)
            assert len(reply["runs"]) == runs
            start = time.perf_counter()
            plan = client.request(PlanRequest(launch=request))["plan"]
            plans.append(time.perf_counter() - start)
            assert len(plan["runs"]) == runs
        ws.tui("wait", "-q", "last", cwd=project)
        dry = [timed([str(BIN / "tui"), "launch", "--dry-run", "--force", *sweep, "--", "true",
                      "--i", "{i}"], cwd=project, env=ws.env) for _ in range(reps)]
        start = time.perf_counter()
        ids = ws.tui("launch", "--force", *sweep, "--", "true", "--i", "{i}",
                     cwd=project).stdout.split()
        ws.tui("wait", "-q", *ids, cwd=project)
        throughput = runs / (time.perf_counter() - start)
        peers = _guild_sweep(ws, runs, quick)
        return [
            Result(f"tui launch --sweep of {runs} runs (CLI, median)", median_ms(cli), "ms", "",
                   peers, note=f"n={reps}; one request, one transaction"),
            Result(f"launch request of a {runs}-run sweep, engine only (median)",
                   median_ms(engine), "ms", "", note=f"{median_ms(engine) / runs:.2f} ms per run"),
            Result(f"plan request of a {runs}-run sweep, engine only (median)", median_ms(plans),
                   "ms", ""),
            Result(f"tui launch --dry-run of a {runs}-run sweep (CLI, median)", median_ms(dry),
                   "ms", ""),
            Result(f"{runs}-run sweep of `true` to the end, max_parallel 2", throughput, "runs/s",
                   ">= 45"),
        ]


def _guild_sweep(ws: Workspace, runs: int, quick: bool) -> dict[str, float]:
    if not peer_bin("guild"):
        return {}
    guild = Guild(make_project(ws.root / "g", env=ws.env), ws.root / "guild", ws.env)
    (guild.project / "guild.yml").write_text('noop:\n  exec: "true"\n  flags:\n    i: 0\n')
    values = ",".join(str(i) for i in range(runs))
    samples = []
    for _ in range(1 if quick else 2):
        start = time.perf_counter()
        guild.run("run", "--stage-trials", "-y", "noop", f"i=[{values}]", check=True)
        samples.append(time.perf_counter() - start)
    return {f"guild run --stage-trials ({runs} trials)": median_ms(samples)}


def bench_single_launch(quick: bool) -> list[Result]:
    n = 30 if quick else 100
    with Workspace("single") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 2\n")
        ws.tui("wait", ws.tui("launch", "--", "true", cwd=project).stdout.strip(), cwd=project)
        client = _client(ws)
        fresh, hits = [], []
        for i in range(n):
            request = LaunchRequest(cwd=str(project), env=ws.env, argv=["true", "--n", str(i)])
            start = time.perf_counter()
            client.request(request)
            fresh.append(time.perf_counter() - start)
        ws.tui("wait", "-q", "last", cwd=project)
        time.sleep(0.5)                                  # the last runs settle
        for i in range(n):
            request = LaunchRequest(cwd=str(project), env=ws.env, argv=["true", "--n", str(i)])
            start = time.perf_counter()
            reply = client.request(request)
            hits.append(time.perf_counter() - start)
            assert reply["cached"], "a cache hit"
        cli_hit = [timed([str(BIN / "tui"), "launch", "--", "true", "--n", "0"], cwd=project,
                         env=ws.env) for _ in range(10)]
        return [Result("launch request, one run, engine only (median)", median_ms(fresh), "ms",
                       "", note=f"mean {statistics.mean(fresh) * 1000:.1f} ms, n={n}"),
                Result("launch request that is a cache hit, engine only (median)",
                       median_ms(hits), "ms", ""),
                Result("tui launch that is a cache hit (CLI, median)", median_ms(cli_hit), "ms",
                       "")]


def bench_stop_rules(quick: bool) -> list[Result]:
    from core.spec.stoprules import Checker, parse_all
    points = 200_000 if quick else 1_000_000
    checker = Checker(parse_all(["loss is nan", "val_loss > 1e9", "val_acc plateau 1000000"]))
    rows = [("loss" if i % 3 == 0 else "val_loss" if i % 3 == 1 else "val_acc", i, 0.5)
            for i in range(points)]
    start = time.perf_counter()
    for chunk in range(0, points, 1000):
        checker.feed(rows[chunk:chunk + 1000])
    per_point = (time.perf_counter() - start) / points * 1e6
    return [Result("stop rules checked per metric point (3 rules)", per_point, "us", "",
                   note=f"{points} points in batches of 1000, as ingest hands them over")]


BENCHMARKS = [bench_sweep_launch, bench_single_launch, bench_stop_rules]
