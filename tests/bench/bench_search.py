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
              target: float | None = None,
              parallel: int = PARALLEL) -> tuple[float, int, int | None, int | None]:
    """(best final value, total steps run, steps run and trials told when a completed trial
    first reached `target`) of one search, `parallel` trials advancing a step at a time."""
    from core.engine.study import Study
    from core.spec import search as search_spec
    space = [search_spec.parse_dimension(text) for text in SPACE]
    search = search_spec.build(space, sampler, "val_loss", budget, parallel, pruner, seed)
    study = Study(0, search, seed)
    active: dict[int, list] = {}
    told = total = 0
    best, reached, reached_trials = math.inf, None, None
    while True:
        while len(active) < parallel and told + len(active) < budget:
            number, values, _ = study.ask()
            active[number] = [list(curve(values["lr"], values["layers"], values["opt"], STEPS,
                                         seed)), 0]
        if not active or (target is not None and reached is not None):
            return best, total, reached, reached_trials
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
                    reached, reached_trials = total, told
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


# ---------------------------------------------------------------- peers and a grid

TARGET = 0.10            # "good": within 0.05 of the optimum (0.05)
# A grid a user might write over the same space: lr at half-decades, every layer count,
# both optimisers (98 runs; it holds the optimum, lr=3e-3 layers=5 adam).
GRID = [(lr, layers, opt) for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
        for layers in range(2, 9) for opt in ("adam", "sgd")]
# ... and one at decades (56 runs), which misses the optimum's neighbourhood.
DECADES = [(lr, layers, opt) for lr in (1e-4, 1e-3, 1e-2, 1e-1)
           for layers in range(2, 9) for opt in ("adam", "sgd")]


def _grid_trials(order: list, seed: int) -> int | None:
    """Runs of the grid, in this order, until one's final val_loss reaches TARGET."""
    for count, (lr, layers, opt) in enumerate(order, 1):
        if list(curve(lr, layers, opt, STEPS, seed))[-1][1] <= TARGET:
            return count
    return None


def _optuna_alone(sampler: str, pruner: str | None, seed: int,
                  budget: int) -> tuple[float, int, float]:
    """Optuna used as a library, the way a training script rewritten around it would:
    study.optimize over the same objective, one trial at a time, reporting each step and
    asking should_prune. (best final value, total steps, seconds per trial.)"""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed)}
    pruners = {None: optuna.pruners.NopPruner, "asha": optuna.pruners.SuccessiveHalvingPruner}
    study = optuna.create_study(sampler=samplers[sampler](), pruner=pruners[pruner]())
    steps = 0

    def objective(trial) -> float:
        nonlocal steps
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        layers = trial.suggest_int("layers", 2, 8)
        opt = trial.suggest_categorical("opt", ["adam", "sgd"])
        value = math.inf
        for step, value in curve(lr, layers, opt, STEPS, seed):
            steps += 1
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    start = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    took = time.perf_counter() - start
    done = [t.value for t in study.trials if t.value is not None
            and t.state == optuna.trial.TrialState.COMPLETE]
    return min(done, default=math.inf), steps, took / budget


def _runyard_study_seconds(sampler: str, seed: int, budget: int) -> float:
    """Seconds per trial of runyard's study driver (ask, report every step, tell), one trial
    at a time: the cost beside Optuna's own optimize loop."""
    from core.engine.study import Study
    from core.spec import search as search_spec
    space = [search_spec.parse_dimension(text) for text in SPACE]
    study = Study(0, search_spec.build(space, sampler, "val_loss", budget, 1, None, seed), seed)
    start = time.perf_counter()
    for _ in range(budget):
        number, values, _ = study.ask()
        points = list(curve(values["lr"], values["layers"], values["opt"], STEPS, seed))
        study.report(number, points)
        study.tell(number, "complete", points[-1][1])
    return (time.perf_counter() - start) / budget


def bench_search_vs_grid_and_optuna(quick: bool) -> list[Result]:
    import random
    seeds = range(10 if quick else 20)
    to_target = {name: [_simulate(name, None, s, LONG_BUDGET, TARGET)[3] for s in seeds]
                 for name in ("tpe", "random")}
    shuffled = []
    for s in seeds:
        order = list(GRID)
        random.Random(s).shuffle(order)
        shuffled.append(_grid_trials(order, s))
    in_order = _grid_trials(GRID, 0)

    def med(found: list) -> float:
        return statistics.median(x if x is not None else math.inf for x in found)

    alone = {name: [_optuna_alone(sampler, pruner, s, BUDGET) for s in seeds]
             for name, (sampler, pruner) in {"tpe": ("tpe", None), "random": ("random", None),
                                             "tpe+asha": ("tpe", "asha")}.items()}
    ours = {name: [_simulate(sampler, pruner, s, BUDGET) for s in seeds]
            for name, (sampler, pruner) in {"tpe": ("tpe", None), "random": ("random", None),
                                            "tpe+asha": ("tpe", "asha")}.items()}
    # One trial at a time, as Optuna's optimize runs them: the same figures, or the driver
    # is not Optuna's.
    one = {name: [_simulate("tpe", pruner, s, BUDGET, parallel=1) for s in seeds]
           for name, pruner in (("tpe", None), ("tpe+asha", "asha"))}
    decades_best = min(list(curve(lr, layers, opt, STEPS, 0))[-1][1]
                       for lr, layers, opt in DECADES)
    per_trial = statistics.median(_runyard_study_seconds("tpe", s, BUDGET) for s in seeds[:5])
    optuna_per_trial = statistics.median(r[2] for r in alone["tpe"][:5])
    n = len(seeds)
    return [
        Result(f"trials until val_loss <= {TARGET}: tpe (median, {n} seeds)",
               med(to_target["tpe"]), "trials",
               peers={"random": med(to_target["random"]),
                      f"grid of {len(GRID)}, shuffled": med(shuffled),
                      f"grid of {len(GRID)}, in order": in_order or math.inf,
                      f"grid of {len(DECADES)} at decades": _grid_trials(DECADES, 0) or math.inf},
               note=f"4 in flight; up to {LONG_BUDGET} trials; the half-decade grid holds the "
                    f"optimum, the decade grid's best is {decades_best:.3f}"),
        Result(f"median best val_loss at {BUDGET} trials, tpe, runyard's driver (4 in flight)",
               statistics.median(r[0] for r in ours["tpe"]), "",
               peers={"Optuna alone, tpe (1 at a time)":
                      statistics.median(r[0] for r in alone["tpe"]),
                      "Optuna alone, random": statistics.median(r[0] for r in alone["random"]),
                      "runyard, random": statistics.median(r[0] for r in ours["random"])}),
        Result(f"total steps at {BUDGET} trials, tpe+asha / tpe, runyard's driver",
               statistics.median(r[1] for r in ours["tpe+asha"])
               / statistics.median(r[1] for r in ours["tpe"]), "x",
               peers={"Optuna alone, tpe+asha / tpe":
                      statistics.median(r[1] for r in alone["tpe+asha"])
                      / statistics.median(r[1] for r in alone["tpe"]),
                      "runyard's driver 1 at a time": statistics.median(
                          r[1] for r in one["tpe+asha"]) / statistics.median(
                          r[1] for r in one["tpe"])},
               note=f"best at that budget: runyard 4 in flight "
                    f"{statistics.median(r[0] for r in ours['tpe+asha']):.3f}, 1 at a time "
                    f"{statistics.median(r[0] for r in one['tpe+asha']):.4f}, Optuna alone "
                    f"{statistics.median(r[0] for r in alone['tpe+asha']):.4f}"),
        Result("sampler cost per trial (ask, report 60 steps, tell), runyard's study driver",
               per_trial * 1000, "ms", peers={"Optuna alone, optimize loop":
                                             optuna_per_trial * 1000},
               note=f"tpe, {BUDGET} trials, median of 5 seeds"),
    ]


def _span(db: Path, group: int) -> float:
    """Seconds from the group's first run recorded to its last run ended (store times)."""
    from core.models import epoch_from_iso
    with sqlite3.connect(db) as conn:
        first, last = conn.execute("SELECT min(created_at), max(finished_at) FROM runs "
                                   "WHERE group_id = ?", (group,)).fetchone()
    return (epoch_from_iso(last) or 0.0) - (epoch_from_iso(first) or 0.0)


def bench_search_overhead(quick: bool) -> list[Result]:
    """What a search adds per trial through the engine: N trials of a run that prints its
    objective at once, 4 in flight, beside a grid sweep of the same N runs, 4 at a time."""
    n = 20 if quick else 40
    command = ("sh", "-c", 'echo "val_loss=$1"', "objective", "{x}")
    with Workspace("overhead") as ws:
        project = ws.root / "p"
        project.mkdir()
        (project / "runyard.toml").write_text(f"[targets.local]\nmax_parallel = {PARALLEL}\n")
        db = ws.home / "runyard.db"
        spans: dict[str, list[float]] = {"search": [], "sweep": []}
        for round_ in range(3):
            values = ",".join(str(round_ * 1000 + i) for i in range(n))
            reply = json.loads(ws.tui("launch", "--sweep", f"x={values}", "--json", "--",
                                      *command, cwd=project).stdout)
            sweep = next(g["id"] for g in reply["groups"] if g["kind"] == "sweep")
            wait_for(lambda: all(r["state"] not in ("queued", "running") for r in json.loads(
                ws.tui("status", "--json", "--all", "--group", str(sweep), cwd=project).stdout
            )["runs"]), timeout=300, interval=0.2, what="the sweep to end")
            spans["sweep"].append(_span(db, sweep))
            reply = json.loads(ws.tui("launch", "--search", "random", "--objective", "val_loss",
                                      "--trials", str(n), "--parallel", str(PARALLEL),
                                      "--sweep", "x=int(1,1000000000)", "--json", "--",
                                      *command, cwd=project).stdout)
            group = next(g["id"] for g in reply["groups"] if g["kind"] == "search")

            def ended(group=group) -> bool:
                found = json.loads(ws.tui("search", "list", "--json", cwd=project).stdout)
                progress = next(g for g in found["searches"] if g["id"] == group)["search"]
                return progress["state"] != "running" and not progress["running"]

            wait_for(ended, timeout=300, interval=0.2, what="the search to end")
            spans["search"].append(_span(db, group))
    search, sweep = statistics.median(spans["search"]), statistics.median(spans["sweep"])
    return [
        Result(f"search overhead per trial ({n} trials, 4 in flight, random sampler)",
               (search - sweep) / n * 1000, "ms",
               note=f"search {search:.2f} s vs a grid sweep of the same {n} runs {sweep:.2f} s "
                    "(first recorded to last ended; median of 3 rounds)"),
    ]


BENCHMARKS = [bench_search_startup, bench_search_in_process, bench_search_engine,
              bench_search_vs_grid_and_optuna, bench_search_overhead]
