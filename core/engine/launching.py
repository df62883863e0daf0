"""From a launch or clone request to runs ready to record: config, params, sweeps, snapshot.

Nothing here writes run state; the engine records the result through its ledger. The
snapshot's blobs are written here (content-addressed, so a launch that fails afterwards
leaves nothing that changes what any run sees); a dry run (`store=False`) only hashes.

One request becomes a `Batch`: one snapshot, one or more steps (a workflow file's chain),
each step one run or a sweep of runs, groups for the sweeps and the chain, and for each
run its spec, its dependencies inside the batch and its spec key (what caching looks up).
A run waits for an earlier step by naming its runs, or, past GROUP_DEPENDENCY_RUNS runs,
by the step's sweep group: one reference, however many runs the sweep has.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core import config as configuration
from core import userregex
from core.spec import params as param_rules
from core.spec import search as search_spec
from core.spec import stoprules
from core.spec import sweeps
from core.store.blobs import BlobStore
from core.config import Config, Project, output_glob_problem
from core.errors import UsageError
from core.models import Run, RunSpec, default_name
from core.requests import DEFAULT_RETRY_DELAY, CloneRequest, LaunchRequest, RunPolicy
from core.store.snapshot import GitState, Snapshot, git_state, take
from core.spec.workflow_file import Step, steps_from_file, with_overrides
from core.engine.targets import project_config


@dataclass(frozen=True)
class Group:
    kind: str                       # "sweep", "chain", "watch" or "search"
    name: str
    spec: dict
    parent: int | None = None       # index of the enclosing group in Batch.groups
    id: int | None = None           # set for a group that exists already (a watch's)
    search: dict | None = None      # a search's trial template (see `trial_run`)
    after_local: tuple[int, ...] = ()   # a search: runs of this batch its trials wait for
    after_groups: tuple[int, ...] = ()  # a search: groups (big sweeps) its trials wait for


@dataclass(frozen=True)
class PlannedRun:
    spec: RunSpec
    options: dict
    key: str                        # the spec key: equal keys = the same run (caching)
    after_local: tuple[int, ...] = ()   # indices of earlier runs of this batch it waits for
    after_groups: tuple[int, ...] = ()  # indices of earlier sweep steps' groups: all their runs
    group: int | None = None        # index into Batch.groups
    resume_point: str | None = None     # RUN:PATH (core.engine.resuming)
    after_search: int | None = None     # index of the search (in Batch.groups) it waits for


@dataclass
class Batch:
    project: Project
    config: Config
    snapshot: Snapshot | None       # None: reuse `snapshot_id` as it is
    snapshot_id: str
    git: GitState
    runs: list[PlannedRun]
    groups: list[Group]
    warnings: list[str]


# A step after a sweep of more runs than this waits for the sweep's group, not each run:
# a 10-step chain of 1,000-run sweeps would otherwise record 9 million dependencies.
GROUP_DEPENDENCY_RUNS = 64


def check_gpus(gpus: int | None) -> None:
    if gpus is not None and gpus < 0:
        raise UsageError(f"--gpus {gpus}: expected 0 or more")


def spec_key(snapshot_id: str, spec: RunSpec, target_kind: str, workdir: str,
             resume_point: str | None) -> str:
    """What makes two runs the same run: code, command, params, env, target kind, GPUs."""
    text = json.dumps([snapshot_id, workdir, spec.command, spec.params, spec.env, target_kind,
                       spec.gpus, resume_point], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]       # 128 bits: plenty


def _base_options(config: Config, warnings) -> dict:
    return {**config.metrics.to_options(), "cancel_grace": config.cancel_grace,
            "warnings": list(warnings), "notify": config.sections.get("notify")}


# ---------------------------------------------------------------- requests to steps

def _request_sweep(req) -> sweeps.Sweep | None:
    if not req.sweep:
        if req.samples is not None or req.seed is not None:
            raise UsageError("--samples and --seed need --sweep KEY=VALUES")
        return None
    return sweeps.build([sweeps.parse_axis(text) for text in req.sweep], req.samples, req.seed)


def _request_search(req: LaunchRequest, better: dict) -> search_spec.Search | None:
    """`--search SAMPLER` with its options: the --sweep axes are its space, not a sweep."""
    options = req.search
    if options is None:
        return None
    if options.sampler is None:
        given = [f"--{name}" for name in ("objective", "trials", "parallel", "prune")
                 if getattr(options, name) is not None]
        raise UsageError(f"{', '.join(given) or 'search options'} go with --search SAMPLER",
                         hint=search_spec.SAMPLER_HINT)
    if req.file is not None:
        raise UsageError("--search and its options go in the workflow file with --file",
                         hint='a [[step]] takes search = "tpe", objective, trials, parallel, '
                              "prune, and its [sweep] is the space")
    if req.samples is not None:
        raise UsageError("--samples draws a random sweep; --search chooses each trial itself",
                         hint="leave out --samples (--search random draws at random too)")
    if req.watch:
        raise UsageError("--watch relaunches one command; it does not take --search")
    space = [search_spec.parse_dimension(text) for text in req.sweep]
    return search_spec.build(space, options.sampler, options.objective, options.trials,
                             options.parallel, options.prune, req.seed, better)


def _launch_steps(req: LaunchRequest, better: dict) -> list[Step]:
    sets = param_rules.parse_assignments(req.set)
    env_vars = param_rules.parse_assignments(req.env_vars, "--env")
    search = _request_search(req, better)
    sweep = _request_sweep(req) if search is None else None
    if req.file is None:
        if not req.argv:
            raise UsageError("nothing to launch: give a command after --",
                             hint="for example: tui launch -- python train.py --lr 0.01")
        return [Step(argv=list(req.argv), name=req.name, set=sets, env_vars=env_vars,
                     target=req.target, gpus=req.gpus, tags=tuple(req.tags),
                     priority=req.priority, sweep=sweep, search=search, policy=req.policy)]
    steps = steps_from_file(Path(req.cwd) / req.file, list(req.argv), better)
    if len(steps) > 1 and (req.name or sweep):
        raise UsageError("--name and --sweep apply to a single step; this file has "
                         f"{len(steps)} steps", hint="set them per [[step]] in the file")
    if sweep is not None and any(step.search is not None for step in steps):
        raise UsageError("--sweep: this step is a search; its space is the file's [sweep]")
    return [with_overrides(
        step, name=req.name, target=req.target, gpus=req.gpus, sweep=sweep,
        set={**step.set, **sets}, env_vars={**step.env_vars, **env_vars},
        tags=step.tags + tuple(req.tags), policy=_over_file(req.policy, step.policy))
        for step in steps]


def _over_file(given: RunPolicy, file: RunPolicy) -> RunPolicy:
    """The command line's policy on top of a workflow step's: lists add up, a value given
    on the command line wins."""
    return RunPolicy(after=file.after + given.after,
                     retries=_given(given.retries, file.retries),
                     retry_on=_given(given.retry_on, file.retry_on),
                     retry_delay=_given(given.retry_delay, file.retry_delay),
                     stop_if=file.stop_if + given.stop_if,
                     checkpoints=_given(given.checkpoints, file.checkpoints),
                     outputs=file.outputs + given.outputs)


def _over_parent(given: RunPolicy, parent: RunPolicy) -> RunPolicy:
    """A clone's policy: what is given, else the parent's (its dependencies excepted:
    those were the parent's own)."""
    return RunPolicy(after=given.after, retries=_given(given.retries, parent.retries),
                     retry_on=_given(given.retry_on, parent.retry_on),
                     retry_delay=_given(given.retry_delay, parent.retry_delay),
                     stop_if=given.stop_if or parent.stop_if,
                     checkpoints=_given(given.checkpoints, parent.checkpoints),
                     outputs=given.outputs or parent.outputs)


def _given(cli_value, file_value):
    return cli_value if cli_value is not None else file_value


def _checked_policy(policy: RunPolicy, resolve_after: Callable) -> RunPolicy:
    """The policy as a run keeps it: checked, defaults filled in, `after` as run ids."""
    retries = policy.retries or 0
    if retries < 0 or retries > 100:
        raise UsageError(f"--retries {retries}: expected 0 to 100",
                         hint="--retries N runs a failed run again up to N times (0: never)")
    delay = DEFAULT_RETRY_DELAY if policy.retry_delay is None else policy.retry_delay
    if delay < 0:
        raise UsageError(f"--retry-delay {delay}: expected 0 or more seconds")
    if policy.retry_on is not None:
        try:
            userregex.compile_pattern(policy.retry_on)
        except ValueError as exc:
            raise UsageError(f"--retry-on {policy.retry_on!r}: not a regular expression "
                             f"({exc})") from None
    stoprules.parse_all(list(policy.stop_if))
    checkpoints = policy.checkpoints
    if checkpoints is not None and (not checkpoints.strip() or Path(checkpoints).is_absolute()
                                    or ".." in Path(checkpoints).parts):
        raise UsageError(f"--checkpoints {checkpoints!r}: expected a folder inside the "
                         "run's code folder, such as checkpoints")
    for glob in policy.outputs:
        if (problem := output_glob_problem(glob)) is not None:
            raise UsageError(f"--outputs {glob!r}: expected {problem}",
                             hint="for example --outputs 'results/*.csv'")
    return RunPolicy(after=sorted({resolve_after(a) for a in policy.after}), retries=retries,
                     retry_on=policy.retry_on, retry_delay=delay, stop_if=policy.stop_if,
                     checkpoints=checkpoints, outputs=list(dict.fromkeys(policy.outputs)))


# ---------------------------------------------------------------- steps to runs

@dataclass
class _Base:
    """What the steps of one request share."""

    project: Project
    config: Config
    snapshot_id: str
    options: dict
    env: dict[str, str]             # config env (launch) or the parent's env (clone)
    parent: int | None = None
    resume_point: str | None = None
    outputs: tuple[str, ...] = ()   # [run] outputs of the config (launches; a clone has its parent's)
    force: bool = False             # run even when cached (a search's trials too)


def _expand(steps: list[Step], base: _Base, resolve_after: Callable,
            chain_name: str | None) -> tuple[list[PlannedRun], list[Group]]:
    groups: list[Group] = []
    runs: list[PlannedRun] = []
    chain = None
    if len(steps) > 1:
        groups.append(Group("chain", chain_name or "chain", {"steps": [s.name for s in steps]}))
        chain = 0
    step_runs: dict[str, list[int]] = {}
    step_group: dict[str, int] = {}     # steps after a big sweep wait for: its group's index
    searches: dict[str, int] = {}             # a search step's name -> its group's index
    for step in steps:
        check_gpus(step.gpus)
        target = base.config.target(step.target or "local")
        policy = step.policy
        if base.outputs:
            policy = policy.replace(outputs=[*base.outputs, *policy.outputs])
        policy = _checked_policy(policy, resolve_after)
        options = base.options
        group = chain
        after_local = tuple(i for name in step.after_steps if name not in step_group
                            for i in step_runs[name])
        after_groups = tuple(step_group[name] for name in step.after_steps if name in step_group)
        after_search = _search_waited_for(step, searches, groups)
        env = {**base.env, **step.env_vars}
        step_name = step.name or f"#{len(step_runs)}"
        mine = step_runs.setdefault(step_name, [])
        if step.search is not None:
            if after_search is not None:
                raise UsageError(f"step {step.name or '?'!r}: a search cannot come after "
                                 "another search", hint="run the second search as its own "
                                                        "launch once the first has ended")
            # A search's trials wait like a step's runs: for a big sweep by its group (a
            # trial of a search after a 10,000-run sweep carries one reference, not 10,000).
            template = {"argv": list(step.argv), "set": dict(step.set), "env": env,
                        "target": target.name, "target_kind": target.kind,
                        "gpus": step.gpus or 0, "name": step.name, "tags": list(step.tags),
                        "parent": base.parent, "priority": step.priority,
                        "policy": policy.to_dict(), "options": options,
                        "resume_point": base.resume_point, "force": base.force}
            groups.append(Group("search", step.name or default_name(step.argv),
                                step.search.to_dict(), parent=chain, search=template,
                                after_local=after_local, after_groups=after_groups))
            searches[step.name or f"#{len(step_runs) - 1}"] = len(groups) - 1
            continue
        if step.sweep is not None:
            groups.append(Group("sweep", step.name or default_name(step.argv),
                                step.sweep.to_dict(), parent=chain))
            group = len(groups) - 1
        sweep_group = len(groups) - 1 if step.sweep is not None else None
        for point in (sweeps.points(step.sweep) if step.sweep else [{}]):
            overrides = {**step.set, **point}
            command, params = param_rules.resolve(step.argv, overrides)
            spec = RunSpec(command=command, template=list(step.argv), params=params,
                           overrides=overrides, target=target.name, gpus=step.gpus or 0,
                           env=env, name=step.name, tags=list(step.tags), parent=base.parent,
                           priority=step.priority, policy=policy)
            key = spec_key(base.snapshot_id, spec, target.kind, base.project.workdir,
                           base.resume_point)
            mine.append(len(runs))
            runs.append(PlannedRun(spec=spec, options=options, key=key, after_local=after_local,
                                   after_groups=after_groups, group=group,
                                   resume_point=base.resume_point, after_search=after_search))
        if sweep_group is not None and len(mine) > GROUP_DEPENDENCY_RUNS:
            step_group[step_name] = sweep_group
    return runs, groups


def _search_waited_for(step: Step, searches: dict[str, int], groups: list[Group]) -> int | None:
    """The search a step comes after (its group's index), checking its `{best.KEY}`
    placeholders against that search's params; None when it follows no search."""
    found = [searches[name] for name in step.after_steps if name in searches]
    wanted = search_spec.best_placeholders([*step.argv, *step.set.values()])
    label = f"step {step.name or '?'!r}"
    if len(found) > 1:
        raise UsageError(f"{label}: comes after {len(found)} searches; {{best.KEY}} would not "
                         "say which", hint="let it come after one search")
    if not found:
        if wanted:
            raise UsageError(f"{label}: {{best.{sorted(wanted)[0]}}}: this step comes after "
                             "no search", hint="add the search step to its after = [...]")
        return None
    keys = groups[found[0]].spec["keys"]
    unknown = sorted(wanted - set(keys))
    if unknown:
        raise UsageError(f"{label}: {{best.{unknown[0]}}}: the search does not vary "
                         f"{unknown[0]}", hint="searched params: " + ", ".join(keys))
    return found[0]


def trial_run(template: dict, values: dict[str, str], snapshot_id: str,
              workdir: str) -> PlannedRun:
    """The run of one trial of a search: its template with the sampled values (text)."""
    overrides = {**template["set"], **values}
    command, params = param_rules.resolve(template["argv"], overrides)
    spec = RunSpec(command=command, template=list(template["argv"]), params=params,
                   overrides=overrides, target=template["target"], gpus=template["gpus"],
                   env=dict(template["env"]), name=template["name"], tags=list(template["tags"]),
                   parent=template["parent"], priority=template["priority"],
                   policy=RunPolicy.from_dict(template["policy"], "stored search"))
    key = spec_key(snapshot_id, spec, template["target_kind"], workdir,
                   template["resume_point"])
    return PlannedRun(spec=spec, options=template["options"], key=key,
                      resume_point=template["resume_point"])


def after_search_run(run: Run, best: dict[str, str], env: dict[str, str], snapshot_id: str,
                     target_kind: str) -> tuple[list[str], dict, str]:
    """A run that waited for a search, given the best trial's values (text) and the
    variables naming the best run: its command, params and spec key now."""
    template = search_spec.fill_best(run.spec.template, best)
    overrides = dict(zip(run.spec.overrides,
                         search_spec.fill_best(list(run.spec.overrides.values()), best)))
    command, params = param_rules.resolve(template, overrides)
    spec = RunSpec(command=command, template=run.spec.template, params=params,
                   overrides=overrides, target=run.spec.target, gpus=run.spec.gpus,
                   env={**run.spec.env, **env})
    return command, params, spec_key(snapshot_id, spec, target_kind, run.workdir,
                                     run.resume_point)


async def prepare_launch(req: LaunchRequest, blobs: BlobStore, hashes: dict,
                         skip: tuple[Path, ...], resolve_after: Callable,
                         store: bool = True) -> Batch:
    project = configuration.find_project(req.cwd)
    config = project_config(project, req.env)
    steps = _launch_steps(req, config.better)
    for step in steps:
        config.target(step.target or "local")          # an unknown target fails first
    snapshot, git = await _snapshot(project, config, blobs, hashes, skip, store)
    base = _Base(project=project, config=config, snapshot_id=snapshot.id,
                 options=_base_options(config, snapshot.warnings), env=dict(config.env),
                 outputs=config.outputs, force=req.force)
    chain_name = Path(req.file).stem if req.file else None
    runs, groups = _expand(steps, base, resolve_after, chain_name)
    return Batch(project=project, config=config, snapshot=snapshot, snapshot_id=snapshot.id,
                 git=git, runs=runs, groups=groups, warnings=list(snapshot.warnings))


async def prepare_clone(req: CloneRequest, parent: Run, parent_options: dict, blobs: BlobStore,
                        hashes: dict, skip: tuple[Path, ...], resolve_after: Callable,
                        resume_point: str | None = None, store: bool = True) -> Batch:
    if req.code not in ("parent", "current"):
        raise UsageError(f"--code {req.code}: expected parent or current")
    project = configuration.find_project(Path(parent.project) / parent.workdir) \
        if Path(parent.project).is_dir() else None
    if req.code == "current" and project is None:
        raise UsageError(f"the parent's project folder {parent.project} no longer exists",
                         hint="clone with --code parent to reuse the parent's snapshot")
    config = project_config(project, req.env)
    if req.template is not None and not req.template:
        raise UsageError("the edited spec has an empty command")
    step = Step(argv=list(req.template) if req.template else list(parent.spec.template),
                name=req.name or parent.spec.name,
                set={**parent.spec.overrides, **param_rules.parse_assignments(req.set)},
                env_vars=param_rules.parse_assignments(req.env_vars, "--env"),
                target=req.target or parent.spec.target,
                gpus=parent.spec.gpus if req.gpus is None else req.gpus,
                tags=tuple(parent.spec.tags if req.tags is None else req.tags),
                priority=parent.spec.priority,
                sweep=_request_sweep(req), policy=_over_parent(req.policy, parent.spec.policy))
    config.target(step.target or "local")
    if req.code == "current":
        assert project is not None, "checked above: --code current needs the project folder"
        snapshot, git = await _snapshot(project, config, blobs, hashes, skip, store)
        snapshot_id, warnings = snapshot.id, list(snapshot.warnings)
        options = _base_options(config, warnings)
    else:
        if parent.snapshot is None:
            raise UsageError(f"run {parent.id} has no snapshot to reuse",
                             hint="clone with --code current to snapshot the project now")
        snapshot, git, snapshot_id, warnings = None, GitState(parent.git_commit, None), \
            parent.snapshot, []
        options = {**parent_options, "warnings": []}
        project = Project(root=Path(parent.project), config_file=None, workdir=parent.workdir,
                          is_git=parent.git_commit is not None)
    env = {k: v for k, v in parent.spec.env.items() if k not in set(req.unset_env)}
    base = _Base(project=project, config=config, snapshot_id=snapshot_id, options=options,
                 env=env, parent=parent.id, resume_point=resume_point)
    runs, groups = _expand([step], base, resolve_after, None)
    return Batch(project=project, config=config, snapshot=snapshot, snapshot_id=snapshot_id,
                 git=git, runs=runs, groups=groups, warnings=warnings)


async def _snapshot(project: Project, config: Config, blobs: BlobStore, hashes: dict,
                    skip: tuple[Path, ...], store: bool) -> tuple[Snapshot, GitState]:
    snapshot_task = asyncio.to_thread(take, project, config.snapshot, blobs, hashes, skip, store)
    if not project.is_git or not store:          # a dry run needs no git state
        return await snapshot_task, GitState(None, None)
    git_task = asyncio.to_thread(git_state, project.root)
    snapshot, git = await asyncio.gather(snapshot_task, git_task)
    return snapshot, git
