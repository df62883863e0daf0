"""The engine's side of `tui files` and `tui pull`, declared outputs, and `tui rm` of pulled copies.

Listing and fetching go through the run's executor (core.executors.base: list_files,
hash_files, fetch_files), so they work the same for every target kind; comparing with the
snapshot is core.engine.filelist, pulling core.engine.pulling. Patterns select files as
`[snapshot] exclude` globs do: `*.csv` at any depth, `results/*.csv` from the top,
`results` a folder and what is in it. Declared outputs (`--outputs`) are such globs
relative to the run's working folder, pulled into `runs/<id>/out/` when the run ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from core.engine import filelist
from core.engine.filelist import Found, RunFile
from core.engine.pulling import PullResult, Puller
from core.engine.targets import Registry
from core.errors import ExecutorError, RunyardError, UnknownTarget, UsageError
from core.models import Run, iso_from_epoch
from core.paths import StorePaths
from core.store import queries as run_queries
from core.store.blobs import BlobStore
from core.store.ledger import Ledger
from core.store.snapshot import compile_globs, human_size

log = logging.getLogger("runyard.engine")

OUTPUT_ATTEMPTS = (5.0, 30.0, 60.0, 120.0, 300.0)   # waits between tries of a declared pull


class RunFiles:
    def __init__(self, ledger: Ledger, registry: Registry, paths: StorePaths, blobs: BlobStore):
        self.ledger = ledger
        self.registry = registry
        self.paths = paths
        self.blobs = blobs
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self.background: set[asyncio.Task] = set()

    def _executor(self, run: Run):
        runtime = self.registry.get(run.spec.target)
        if runtime is None:
            raise UnknownTarget(f"run {run.id} ran on target {run.spec.target!r}, which this "
                                "engine does not know any more",
                                hint="launch something with the config that defines it")
        return runtime.executor

    async def find(self, run: Run, allow_stale: bool = True, hash_all: bool = False) -> Found:
        found = await filelist.find(self._executor(run), run, self.blobs,
                                    self.paths.run_dir(run.id), hash_all=hash_all)
        if found.stale and not allow_stale:
            raise ExecutorError(found.stale, target=run.spec.target, transient=True)
        return found

    # ------------------------------------------------------------ tui files

    async def listing(self, run: Run, include_unchanged: bool, hashes: bool = False) -> dict:
        found = await self.find(run, hash_all=hashes)
        shown = [f for f in found.files if include_unchanged or f.status != "unchanged"]
        return {"run": run.id, "target": run.spec.target, "state": run.state.value,
                "listed_at": iso_from_epoch(found.listed_at) if found.listed_at else None,
                "stale": found.stale, "unlisted": found.unlisted,
                "checkpoints": filelist.checkpoint_prefix(run),
                "files": [f.to_json() for f in shown]}

    # ------------------------------------------------------------ tui pull

    async def pull(self, run: Run, patterns: list[str], to: str | None,
                   include_unchanged: bool, why: str = "pull") -> dict:
        dest = Path(to) if to else self.paths.run_dir(run.id) / "out"
        if not dest.is_absolute():
            raise UsageError(f"--to {to}: expected an absolute folder")
        found = await self.find(run, allow_stale=False)
        chosen = select(run, found, patterns, include_unchanged)
        result = await self.pull_files(run, chosen, dest, why)
        return {"run": run.id, "to": str(dest), "content_bytes": result.content_bytes,
                "counts": result.counts(), "files": result.files, "problems": result.problems}

    async def pull_files(self, run: Run, chosen: list[RunFile], dest: Path,
                         why: str) -> PullResult:
        """Pull these files of the run into `dest` (one pull per destination at a time),
        and record what was written."""
        lock = self._locks.setdefault((run.id, str(dest)), asyncio.Lock())
        async with lock:
            executor = self._executor(run)
            run_dir = self.paths.run_dir(run.id)
            recorded = run_queries.pulled_files(self.ledger.conn, run.id, str(dest))
            copies = run_queries.pulled_rows(self.ledger.conn, [run.id])
            puller = Puller(executor, run, self.blobs, dest, recorded)
            puller.know_copies([(p, Path(d) / p, size, mtime, sha)
                                for d, p, size, mtime, sha in copies if Path(d) != dest])
            worth = await asyncio.to_thread(puller.worth_hashing, chosen)
            chosen = await filelist.with_hashes(executor, run, run_dir, chosen,
                                                only={f.path for f in worth})
            try:
                await puller.pull(chosen)
            finally:                        # what arrived before a failure is recorded too
                self._record(run, dest, puller.result, why)
                filelist.learn_hashes(run_dir, chosen, puller.learned)
        return puller.result

    def _record(self, run: Run, dest: Path, result: PullResult, why: str) -> None:
        written = []
        for item in result.files:
            try:
                info = os.stat(dest / item["path"])
            except OSError:
                continue
            written.append((item["path"], info.st_size, info.st_mtime_ns, item["sha256"]))
        moved = [f for f in result.files if f["how"] != "unchanged"]
        note = None
        if moved or why != "pull":
            total = sum(f["size"] for f in moved)
            note = (f"{'declared outputs: ' if why == 'outputs' else ''}pulled {len(moved)} "
                    f"file{'s' if len(moved) != 1 else ''} ({human_size(total)}, "
                    f"{human_size(result.content_bytes)} sent) to {dest}")
            if result.problems:
                note += f"; {len(result.problems)} not: {result.problems[0]}"
        self.ledger.record_pull(run.id, str(dest), written, why, note)

    # ------------------------------------------------------------ declared outputs

    def run_ended(self, run: Run) -> None:
        """A run ended for good: pull its declared outputs in the background."""
        if not run.spec.policy.outputs or not run.handle:
            return
        task = asyncio.get_running_loop().create_task(self._pull_outputs(run),
                                                      name=f"outputs-{run.id}")
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _pull_outputs(self, run: Run) -> None:
        globs = run.spec.policy.outputs
        for attempt, pause in enumerate((0.0, *OUTPUT_ATTEMPTS)):
            await asyncio.sleep(pause)
            try:
                found = await self.find(run, allow_stale=False)
                chosen, missing = select_outputs(run, found, globs)
                for glob in missing:
                    self.ledger.event(run.id, "pull", f"declared output {glob!r} matched no file")
                await self.pull_files(run, chosen, self.paths.run_dir(run.id) / "out",
                                      "outputs")
                return
            except ExecutorError as exc:
                if not exc.transient or attempt == len(OUTPUT_ATTEMPTS):
                    self._outputs_failed(run, exc.message)
                    return
                log.info("run %s: declared outputs wait for the target: %s", run.id,
                         exc.message)
            except RunyardError as exc:
                self._outputs_failed(run, exc.message)
                return

    def _outputs_failed(self, run: Run, why: str) -> None:
        try:
            self.ledger.event(run.id, "pull", f"declared outputs not pulled: {why}; "
                                              f"pull them with: tui pull {run.id}")
        except RunyardError as exc:          # the run was removed meanwhile, or a full disk
            log.warning("run %s: declared outputs not pulled (%s), nor recorded: %s", run.id,
                        why, exc.message)

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)


def select(run: Run, found: Found, patterns: list[str], include_unchanged: bool) -> list[RunFile]:
    """The files a pull takes: what the run wrote (every file with `include_unchanged`), or
    those matching `patterns` (each must match something)."""
    present = [f for f in found.files if f.status != "deleted"]
    if not patterns:
        return [f for f in present if include_unchanged or f.status != "unchanged"]
    chosen: dict[str, RunFile] = {}
    for pattern in patterns:
        regex = compile_globs([pattern])
        hits = [f for f in present if regex is not None and regex.match(f.path)]
        if not hits:
            raise UsageError(f"no file of run {run.id} matches {pattern!r}",
                             hint=f"see what there is: tui files {run.id} --all")
        chosen.update((f.path, f) for f in hits)
    return sorted(chosen.values(), key=lambda f: f.path)


def select_outputs(run: Run, found: Found, globs: list[str]) -> tuple[list[RunFile], list[str]]:
    """The files matching declared outputs (globs in the run's working folder), and the
    globs that matched nothing."""
    prefix = f"{run.workdir}/" if run.workdir else ""
    present = [f for f in found.files if f.status != "deleted" and f.path.startswith(prefix)]
    chosen: dict[str, RunFile] = {}
    missing = []
    for glob in globs:
        regex = compile_globs([glob])
        hits = [f for f in present if regex is not None and regex.match(f.path[len(prefix):])]
        if not hits:
            missing.append(glob)
        chosen.update((f.path, f) for f in hits)
    return sorted(chosen.values(), key=lambda f: f.path), missing


def remove_pulled(rows: list[tuple[str, str, int, int, str]],
                  keep_under: Path) -> tuple[int, list[str]]:
    """`tui rm`: delete the copies pulls wrote outside the run folders (those inside go with
    their folder), each only if it is still as written; then the folders left empty.
    Returns the bytes freed and a note for each file kept."""
    freed, kept = 0, []
    folders: set[Path] = set()
    for dest, path, size, mtime_ns, _sha in rows:
        base = Path(dest)
        if base.is_relative_to(keep_under):
            continue
        target = base / path
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append(f"{target}: {exc.strerror}")
            continue
        if (info.st_size, info.st_mtime_ns) != (size, mtime_ns):
            kept.append(f"{target} was changed after it was pulled; it stays")
            continue
        try:
            os.unlink(target)
        except OSError as exc:
            kept.append(f"could not delete {target}: {exc.strerror or exc}")
            continue
        freed += size
        parent = target.parent
        while parent != base.parent and parent.is_relative_to(base):
            folders.add(parent)
            parent = parent.parent
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            continue                    # not empty: other files live there
    return freed, kept

