"""Resuming from a checkpoint, wherever the run that wrote it ran and wherever the new one runs.

A run launched with `--checkpoints DIR` writes checkpoints into DIR, a folder relative to
its working folder. Its newest checkpoint is the entry of DIR (a file, or a folder such as
`step-1000/`) modified last (a folder: its newest file); ties go to the name that sorts
last with numbers compared as numbers (`epoch10` after `epoch9`). Hidden entries are not
checkpoints.

A resume point is kept with the run (`resume_point`) as `RUN:PATH`, PATH relative to that
run's code folder: `tui clone ID --resume` names the parent's newest checkpoint at once; a
retry of a run with checkpoints names the failed attempt's folder (`RUN:DIR/`, a trailing
slash), and its newest checkpoint is found when the retry starts (none there: the attempt's
own resume point, if it had one). When the run starts, the path it reads the checkpoint
by is given in `$RUNYARD_RESUME_FROM` (and kept as `resume_from`):
- where the new run can read it in place (the same machine; the same box and work folder;
  another remote run's volume on the same Docker engine), that path: nothing is copied;
- else the checkpoint is pulled to this machine (into `runs/RUN/out/`, content-addressed,
  so only once) and staged where the new run is (a box's blob store receives only the
  blobs it lacks, so once per box).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from core.engine.filelist import Found, RunFile, checkpoint_prefix
from core.engine.run_files import RunFiles
from core.engine.targets import Registry, TargetRuntime
from core.errors import ExecutorError, RunyardError, StoreError, UnknownRun, UsageError
from core.models import Run
from core.paths import StorePaths
from core.store import queries as run_queries
from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")

_DIGITS = re.compile(r"(\d+)")
MAX_FALLBACKS = 20          # attempts looked back through for a checkpoint


@dataclass(frozen=True)
class Point:
    """A checkpoint of a run: PATH in its code folder; `folder`: its newest entry."""

    run: int
    path: str
    folder: bool = False

    def text(self) -> str:
        return f"{self.run}:{self.path}{'/' if self.folder else ''}"


def parse(text: str | None, paths: StorePaths) -> Point | None:
    """A stored resume point; an absolute path of a store before resume points (a run's
    code folder here) is read as one too."""
    if not text:
        return None
    head, sep, rest = text.partition(":")
    if sep and head.isdigit():
        return Point(int(head), rest.rstrip("/"), rest.endswith("/"))
    relative = Path(text).relative_to(paths.runs) if Path(text).is_relative_to(paths.runs) \
        else None
    if relative is None or len(relative.parts) < 3 or not relative.parts[0].isdigit() or \
            relative.parts[1] != "code":
        return None
    return Point(int(relative.parts[0]), "/".join(relative.parts[2:]))


def newest(found: Found, folder: str) -> str | None:
    """The newest checkpoint under `folder` ("dir/" form), as a path in the code folder."""
    entries: dict[str, tuple[float, list]] = {}
    for item in found.files:
        if item.status == "deleted" or not item.path.startswith(folder):
            continue
        name = item.path[len(folder):].split("/", 1)[0]
        if not name or name.startswith("."):
            continue
        natural = [int(p) if p.isdigit() else p for p in _DIGITS.split(name)]
        seen = entries.get(name)
        if seen is None or item.mtime > seen[0]:
            entries[name] = (item.mtime, natural)
    if not entries:
        return None
    name = max(entries, key=lambda n: (entries[n][0], entries[n][1]))
    return folder + name


def files_of(found: Found, path: str) -> list[RunFile]:
    """The files of a checkpoint: the file itself, or every file under the folder."""
    return [f for f in found.files if f.status != "deleted" and
            (f.path == path or f.path.startswith(path + "/"))]


class Resumer:
    def __init__(self, ledger: Ledger, registry: Registry, files: RunFiles, paths: StorePaths):
        self.ledger = ledger
        self.registry = registry
        self.files = files
        self.paths = paths

    # ------------------------------------------------------------ naming a point

    async def clone_point(self, parent: Run, checkpoints: str | None) -> Point:
        """`tui clone --resume`: the parent's newest checkpoint now (a clear error if none)."""
        if checkpoints:
            parent = _with_checkpoints(parent, checkpoints)
        folder = checkpoint_prefix(parent)
        if folder is None:
            raise UsageError(f"run {parent.id} names no checkpoint folder",
                             hint="launch runs with --checkpoints DIR, or give "
                                  "--checkpoints DIR with --resume")
        found = await self.files.find(parent)
        chosen = newest(found, folder)
        if chosen is None:
            raise UsageError(f"run {parent.id} has no checkpoint in {folder.rstrip('/')}"
                             + (f" (as last seen: {found.stale})" if found.stale else ""),
                             hint="clone without --resume to start from scratch")
        return Point(parent.id, chosen)

    @staticmethod
    def retry_point(run: Run) -> str | None:
        """A retry resumes from the failed attempt's newest checkpoint (found at its start)."""
        folder = checkpoint_prefix(run)
        return Point(run.id, folder.rstrip("/"), folder=True).text() if folder else None

    # ------------------------------------------------------------ starting from it

    async def prepare(self, run: Run, runtime: TargetRuntime) -> str | None:
        """The path `run` reads its checkpoint by (RUNYARD_RESUME_FROM), made ready on its
        target; None when it resumes from nothing. Records both with the run."""
        point = parse(run.resume_point or run.resume_from, self.paths)
        if point is None:
            return None
        try:
            return await self._prepare(run, runtime, point)
        except (ExecutorError, StoreError):
            raise
        except RunyardError as exc:          # the source run has no files (never started...)
            raise ExecutorError(f"cannot resume run {run.id}: {exc.message}") from None

    async def _prepare(self, run: Run, runtime: TargetRuntime, point: Point) -> str | None:
        source, found, chosen = await self._resolve(run, point)
        runtime_of_source = self.registry.get(source.spec.target)
        if chosen is None or runtime_of_source is None:
            self.ledger.set_resume(run.id, None, None, "no checkpoint to resume from: "
                                                       "starting from the beginning")
            return None
        point = chosen
        executor = runtime_of_source.executor
        location = executor.files_location(source.handle)
        address = executor.file_address(source, source.handle, point.path)
        path = await runtime.executor.resume_path(run, location, address)
        how = "read where it is"
        if path is None:
            path, how = await self._copy(run, runtime, source, files_of(found, point.path),
                                         point.path), "copied here"
        self.ledger.set_resume(run.id, point.text(), path,
                               f"resuming from run {source.id}'s {point.path} ({how})")
        return path

    async def _resolve(self, run: Run, point: Point) -> tuple[Run, Found, Point | None]:
        """The source run, its files and the concrete checkpoint (a folder's newest, else
        the attempt's own point, looking back through attempts)."""
        source, found = None, None
        for _step in range(MAX_FALLBACKS):
            try:
                source = run_queries.get_run(self.ledger.conn, point.run)
            except UnknownRun as exc:
                raise ExecutorError(f"cannot resume run {run.id}: {exc.message}") from None
            if self.registry.get(source.spec.target) is None:
                raise ExecutorError(f"cannot resume run {run.id}: run {source.id} ran on "
                                    f"target {source.spec.target!r}, no longer known")
            found = await self.files.find(source, allow_stale=False)
            if not point.folder:
                if not files_of(found, point.path):
                    raise ExecutorError(f"cannot resume run {run.id}: run {source.id} has no "
                                        f"{point.path} any more")
                return source, found, point
            chosen = newest(found, point.path + "/")
            if chosen is not None:
                return source, found, Point(source.id, chosen)
            earlier = parse(source.resume_point or source.resume_from, self.paths)
            if earlier is None:
                return source, found, None
            point = earlier
        if source is None or found is None:            # MAX_FALLBACKS is above 0
            raise ExecutorError(f"cannot resume run {run.id}: no checkpoint found")
        return source, found, None

    async def _copy(self, run: Run, runtime: TargetRuntime, source: Run,
                    files: list[RunFile], path: str) -> str:
        """Pull the checkpoint here (once: content-addressed), then stage it for the run."""
        out = self.paths.run_dir(source.id) / "out"
        result = await self.files.pull_files(source, files, out, "resume")
        if result.problems:
            raise ExecutorError(f"cannot resume run {run.id} from run {source.id}'s {path}: "
                                f"{result.problems[0]}", transient=True)
        digests = {f["path"]: f["sha256"] for f in result.files}
        root = await runtime.executor.stage_files(run, out, digests)
        return f"{root}/{path}"


def _with_checkpoints(run: Run, checkpoints: str) -> Run:
    return replace(run, spec=replace(run.spec, policy=run.spec.policy.replace(
        checkpoints=checkpoints)))
