"""Benchmarks of adaptive search (issue 14): does TPE beat random, does ASHA save steps, and
does a plain `tui` command stay free of Optuna's import.

The objective is examples/search/objective.py: a run whose loss converges over its steps
to a floor set by its params, with a known optimum (0.05 at lr=3e-3, layers=5, opt=adam)
and noise. Two ways to measure, same space (lr log(1e-4,1e-1), layers int(2,8), opt
adam|sgd), 4 trials in flight:

- in process, many seeds: the engine's own study driver (core.engine.study.Study: the same
  sampler and pruner objects, ask/report/tell as the engine calls them), each trial's
  curve reported step by step while the 4 "workers" advance together;
- through the engine: `tui launch --search` on the local target, runs printing a step
  every 30 ms, the engine reading them (a pruned search's trials every 0.1 s) and stopping
  pruned runs.

Figures: the median (over seeds) best final val_loss at a 40-trial budget for tpe and
random; with --prune asha, the total steps run, at 40 trials and until the search first
completes a trial as good as the no-pruning median best (the "same median best").
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.common import BIN, REPO, Result, Workspace, median_ms, timed
from tests.helpers import wait_for

sys.path.insert(0, str(REPO / "examples" / "search"))
from objective import curve  # noqa: E402

SPACE = ("lr=log(1e-4,1e-1)", "layers=int(2,8)", "opt=adam,sgd")
STEPS = 60
PARALLEL = 4
BUDGET = 40
LONG_BUDGET = 200        # how far a search may go to reach the no-pruning median best
ENGINE_STEP = 0.03       # seconds a step takes in the runs the engine supervises


# ---------------------------------------------------------------- in process

def _simulate(sampler: str, pruner: str | None, seed: int, budget: int,
              target: float | None = None) -> tuple[float, int, int | None]:
    """(best final value, total steps run, steps run when a completed trial first reached
    `target`) of one search, 4 trials advancing a step at a time."""
    from core.engine.study import Study
    from core.spec import search as search_spec
    space = [search_spec.parse_dimension(text) for text in SPACE]
    search = search_spec.build(space, sampler, "val_loss", budget, PARALLEL, pruner, seed)
    study = Study(0, search, seed)
    active: dict[int, list] = {}
    told = total = 0
    best, reached = math.inf, None
    while True:
        while len(active) < PARALLEL and told + len(active) < budget:
            number, values, _ = study.ask()
            active[number] = [list(curve(values["lr"], values["layers"], values["opt"], STEPS,
                                         seed)), 0]
        if not active or (target is not None and reached is not None):
            return best, total, reached
        for number in list(active):
            points, at = active[number]
            step, value = points[at]
            total += 1
            if study.report(number, [(step, value)]) is not None:
                study.tell(number, "pruned")
                told += 1
                del active[number]
            elif at + 1 == len(points):
                study.tell(number, "complete", value)
                told += 1
                best = min(best, value)
                del active[number]
                if target is not None and reached is None and best <= target:
                    reached = total
            else:
                active[number][1] = at + 1


def bench_search_in_process(quick: bool) -> list[Result]:
    seeds = range(10 if quick else 20)
    runs = {name: [_simulate(sampler, pruner, s, BUDGET) for s in seeds]
            for name, (sampler, pruner) in {"tpe": ("tpe", None), "random": ("random", None),
                                            "tpe+asha": ("tpe", "asha"),
                                            "tpe+median": ("tpe", "median")}.items()}
    best = {name: statistics.median(r[0] for r in found) for name, found in runs.items()}
    steps = {name: statistics.median(r[1] for r in found) for name, found in runs.items()}
    target = best["tpe"]
    to_target = {}
    for name, pruner in (("tpe", None), ("tpe+asha", "asha"), ("tpe+median", "median")):
        hits = [_simulate("tpe", pruner, s, LONG_BUDGET, target)[2] for s in seeds]
        to_target[name] = statistics.median(h if h is not None else math.inf for h in hits)
    n = len(seeds)
    return [
        Result(f"median best val_loss, tpe, {BUDGET} trials ({n} seeds)", best["tpe"], "",
               f"<= {best['random']:.4f}", note=f"random: {best['random']:.4f}; optimum 0.05"),
        Result(f"median best val_loss, random, {BUDGET} trials ({n} seeds)", best["random"], "",
               note="for comparison"),
        Result("steps to reach tpe's median best, asha / no pruning", to_target["tpe+asha"]
               / to_target["tpe"], "x", "<= 0.5",
               note=f"{to_target['tpe+asha']:.0f} vs {to_target['tpe']:.0f} steps (median); "
                    f"median pruner {to_target['tpe+median']:.0f}"),
        Result(f"total steps at {BUDGET} trials, tpe+asha (median)", steps["tpe+asha"], "steps",
               note=f"no pruning {steps['tpe']:.0f}, median pruner {steps['tpe+median']:.0f}; "
                    f"best val_loss then: asha {best['tpe+asha']:.4f}, median "
                    f"{best['tpe+median']:.4f} (pruned trials count in the budget)"),
    ]


# ---------------------------------------------------------------- through the engine

def _engine_search(ws: Workspace, project: Path, sampler: str, pruner: str | None,
                   seed: int, trials: int) -> int:
    prune = ("--prune", pruner) if pruner else ()
    sweeps = [x for axis in SPACE for x in ("--sweep", axis)]
    reply = json.loads(ws.tui("launch", "--search", sampler, "--objective", "val_loss",
                              "--trials", str(trials), "--parallel", str(PARALLEL),
                              "--seed", str(seed), *prune, *sweeps, "--force", "--json", "--",
                              "python3", "objective.py", "--lr", "{lr}", "--layers",
                              "{layers}", "--opt", "{opt}", "--steps", str(STEPS),
                              "--delay", str(ENGINE_STEP), "--seed", str(seed),
                              cwd=project).stdout)
    group = next(g["id"] for g in reply["groups"] if g["kind"] == "search")

    def ended() -> bool:
        found = json.loads(ws.tui("search", "list", "--json", cwd=project).stdout)["searches"]
        progress = next(g for g in found if g["id"] == group)["search"]
        return progress["state"] != "running" and not progress["running"]

    wait_for(ended, timeout=900, interval=0.5, what=f"search {group} to end")
    return group


def _engine_figures(db: Path, group: int, target: float | None) -> tuple[float, int, int | None]:
    """(best completed value, steps run, steps run when a trial first reached `target`),
    from the store: every val_loss point is one step, stamped when the engine read it."""
    from core.models import epoch_from_iso
    with sqlite3.connect(db) as conn:
        told = conn.execute("SELECT value, ended_at FROM trials WHERE group_id = ? AND "
                            "state = 'complete' ORDER BY told", (group,)).fetchall()
        points = [row[0] for row in conn.execute(
            "SELECT m.at FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.group_id = ? "
            "AND m.key = 'val_loss' ORDER BY m.at", (group,))]
    best = min((value for value, _ in told), default=math.inf)
    reached = None
    hit = next((ended for value, ended in told if value <= target), None) \
        if target is not None else None
    if hit is not None:
        moment = epoch_from_iso(hit)
        reached = sum(1 for at in points if at <= moment)
    return best, len(points), reached


def bench_search_engine(quick: bool) -> list[Result]:
    seeds = range(3 if quick else 10)
    with Workspace("search") as ws:
        project = ws.root / "p"
        project.mkdir()
        (project / "objective.py").write_text((REPO / "examples" / "search" /
                                              "objective.py").read_text())
        (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {PARALLEL}\n")
        db = ws.home / "runyard.db"
        start = time.perf_counter()
        plain = {name: [_engine_figures(db, _engine_search(ws, project, sampler, None, s,
                                                           BUDGET), None) for s in seeds]
                 for name, sampler in (("tpe", "tpe"), ("random", "random"))}
        best = {name: statistics.median(r[0] for r in found) for name, found in plain.items()}
        target = best["tpe"]
        asha = [_engine_figures(db, _engine_search(ws, project, "tpe", "asha", s, LONG_BUDGET),
                                target) for s in seeds]
        took = time.perf_counter() - start
    no_prune = statistics.median(r[1] for r in plain["tpe"])
    to_target = statistics.median(r[2] if r[2] is not None else math.inf for r in asha)
    n = len(seeds)
    return [
        Result(f"engine: median best val_loss, tpe, {BUDGET} trials ({n} seeds)", best["tpe"], "",
               f"<= {best['random']:.4f}", note=f"random: {best['random']:.4f}"),
        Result("engine: steps until tpe+asha first reaches that / steps tpe ran for it",
               to_target / no_prune, "x", "<= 0.5",
               note=f"{to_target:.0f} vs {no_prune:.0f} steps (median; {BUDGET} trials without "
                    f"pruning); reached in {sum(r[2] is not None for r in asha)}/{n} seeds "
                    f"within {LONG_BUDGET} trials; {ENGINE_STEP * 1000:.0f} ms a step, a "
                    f"pruned search's trials read every 0.1 s; {took:.0f} s in all"),
    ]


# ---------------------------------------------------------------- start-up

def _imports(*args: str, cwd: Path, env: dict) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "tui", *args], cwd=cwd,
                          env=env, capture_output=True, text=True)
    return {m.group(1).split(".")[0] for m in re.finditer(r"\|\s+([\w.]+)\s*$",
                                                           proc.stderr, re.M)}


def bench_search_startup(quick: bool) -> list[Result]:
    n = 10 if quick else 30
    with Workspace("startup") as ws:
        project = ws.root / "p"
        project.mkdir()
        env = {**ws.env, "PYTHONPATH": str(REPO)}
        ws.tui("launch", "--", "true", cwd=project)
        help_imports = _imports("--help", cwd=project, env=env)
        launch_imports = _imports("launch", "--force", "--", "true", cwd=project, env=env)
        helps = [timed([str(BIN / "tui"), "--help"], cwd=project, env=ws.env) for _ in range(n)]
        launches = [timed([str(BIN / "tui"), "launch", "--force", "--", "true"], cwd=project,
                          env=ws.env) for _ in range(n)]
        ws.tui("engine", "stop", cwd=project)
        cold = timed([str(BIN / "tui"), "launch", "--force", "--", "true"], cwd=project,
                     env=ws.env)
        ws.tui("launch", "--search", "random", "--objective", "loss", "--trials", "1000",
               "--sweep", "x=int(1,9)", "--", "sleep", "60", cwd=project)
        ws.tui("engine", "stop", cwd=project)
        live = timed([str(BIN / "tui"), "launch", "--force", "--", "true"], cwd=project,
                     env=ws.env)
        group = json.loads(ws.tui("search", "list", "--json", cwd=project).stdout)[
            "searches"][0]["id"]
        ws.tui("search", "stop", str(group), "--cancel", cwd=project)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import optuna"], check=True)
    optuna_ms = (time.perf_counter() - t0) * 1000
    return [
        Result("tui --help (median)", median_ms(helps), "ms",
               note="imports optuna: " + ("YES" if "optuna" in help_imports else "no")),
        Result("tui launch -- true, engine running (median)", median_ms(launches), "ms",
               note="imports optuna: " + ("YES" if "optuna" in launch_imports else "no")),
        Result("tui launch, engine starting, no search in the store", cold * 1000, "ms",
               note="the engine does not import optuna"),
        Result("tui launch, engine starting, a search live in the store", live * 1000, "ms",
               note=f"the engine rebuilds the study: python -c 'import optuna' alone takes "
                    f"{optuna_ms:.0f} ms here"),
    ]


BENCHMARKS = [bench_search_startup, bench_search_in_process, bench_search_engine]
