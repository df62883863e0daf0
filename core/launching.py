"""From a launch or clone request to a run ready to record: config, params, snapshot, git.

Nothing here writes run state; the engine records the result through its ledger. The
snapshot's blobs are written here (content-addressed, so a launch that fails afterwards
leaves nothing that changes what any run sees).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from core import config as configuration
from core import params as param_rules
from core.blobs import BlobStore
from core.config import Config, Project
from core.errors import UsageError
from core.models import Run, RunSpec
from core.snapshot import GitState, Snapshot, git_state, take


@dataclass(frozen=True)
class LaunchRequest:
    """What `tui launch` asks for. `env` is the launching shell's environment."""

    cwd: str
    env: dict[str, str]
    argv: list[str]
    name: str | None = None
    target: str | None = None
    gpus: int | None = None
    set: list[str] = field(default_factory=list)
    env_vars: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    priority: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> "LaunchRequest":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class CloneRequest:
    parent: int
    cwd: str
    env: dict[str, str]
    code: str = "parent"            # "parent": the parent's snapshot; "current": the tree now
    name: str | None = None
    target: str | None = None
    gpus: int | None = None
    set: list[str] = field(default_factory=list)
    env_vars: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> "CloneRequest":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Prepared:
    spec: RunSpec
    project: Project
    config: Config
    snapshot: Snapshot | None        # None: reuse `snapshot_id` as it is
    snapshot_id: str
    git: GitState
    options: dict


def check_gpus(gpus: int | None) -> None:
    if gpus is not None and gpus < 0:
        raise UsageError(f"--gpus {gpus}: expected 0 or more")


def _options(config: Config, warnings) -> dict:
    return {"metric_patterns": list(config.metric_patterns), "cancel_grace": config.cancel_grace,
            "warnings": list(warnings)}


async def prepare_launch(req: LaunchRequest, blobs: BlobStore, hashes: dict,
                         skip: tuple[Path, ...]) -> Prepared:
    if not req.argv:
        raise UsageError("nothing to launch: give a command after --",
                         hint="for example: tui launch -- python train.py --lr 0.01")
    check_gpus(req.gpus)
    project = configuration.find_project(req.cwd)
    config = configuration.load(project, req.env)
    target = config.target(req.target or "local")
    overrides = param_rules.parse_assignments(req.set)
    env = {**config.env, **param_rules.parse_assignments(req.env_vars, "--env")}
    command, params = param_rules.resolve(req.argv, overrides)
    snapshot, git = await _snapshot(project, config, blobs, hashes, skip)
    spec = RunSpec(command=command, template=list(req.argv), params=params, overrides=overrides,
                   target=target.name, gpus=req.gpus or 0, env=env, name=req.name,
                   tags=list(req.tags), priority=req.priority)
    return Prepared(spec=spec, project=project, config=config, snapshot=snapshot,
                    snapshot_id=snapshot.id, git=git, options=_options(config, snapshot.warnings))


async def prepare_clone(req: CloneRequest, parent: Run, parent_options: dict, blobs: BlobStore,
                        hashes: dict, skip: tuple[Path, ...]) -> Prepared:
    if req.code not in ("parent", "current"):
        raise UsageError(f"--code {req.code}: expected parent or current")
    check_gpus(req.gpus)
    project = configuration.find_project(Path(parent.project) / parent.workdir) \
        if Path(parent.project).is_dir() else None
    if req.code == "current" and project is None:
        raise UsageError(f"the parent's project folder {parent.project} no longer exists",
                         hint="clone with --code parent to reuse the parent's snapshot")
    config = configuration.load(project, req.env)
    target = config.target(req.target or parent.spec.target)
    overrides = {**parent.spec.overrides, **param_rules.parse_assignments(req.set)}
    env = {**parent.spec.env, **param_rules.parse_assignments(req.env_vars, "--env")}
    command, params = param_rules.resolve(parent.spec.template, overrides)
    spec = RunSpec(command=command, template=list(parent.spec.template), params=params,
                   overrides=overrides, target=target.name,
                   gpus=parent.spec.gpus if req.gpus is None else req.gpus, env=env,
                   name=req.name or parent.spec.name, tags=list(req.tags or parent.spec.tags),
                   parent=parent.id, priority=parent.spec.priority)
    if req.code == "current":
        snapshot, git = await _snapshot(project, config, blobs, hashes, skip)
        return Prepared(spec=spec, project=project, config=config, snapshot=snapshot,
                        snapshot_id=snapshot.id, git=git,
                        options=_options(config, snapshot.warnings))
    options = {**parent_options, "warnings": []}
    parent_project = Project(root=Path(parent.project), config_file=None, workdir=parent.workdir,
                             is_git=parent.git_commit is not None)
    return Prepared(spec=spec, project=parent_project, config=config, snapshot=None,
                    snapshot_id=parent.snapshot, git=GitState(parent.git_commit, None),
                    options=options)


async def _snapshot(project: Project, config: Config, blobs: BlobStore, hashes: dict,
                    skip: tuple[Path, ...]) -> tuple[Snapshot, GitState]:
    git_task = asyncio.to_thread(git_state, project.root) if project.is_git else None
    snapshot_task = asyncio.to_thread(take, project, config.snapshot, blobs, hashes, skip)
    if git_task is None:
        return await snapshot_task, GitState(None, None)
    snapshot, git = await asyncio.gather(snapshot_task, git_task)
    return snapshot, git
