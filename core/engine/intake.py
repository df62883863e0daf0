"""The engine's intake: launch, clone and plan requests become recorded runs (or a plan).

A request is prepared (core.engine.launching: config, snapshot, sweeps, steps), its targets are
checked, the runs already done are found (caching), and the new runs are written in one
transaction. `plan` does the same without writing anything: the snapshot is only hashed,
targets are not learned, and the answer says what `launch` would do now (core.engine.planning).

Caching: a run whose spec key (snapshot content, workdir, command, params, env, target
kind, GPU count, resume point) equals that of a run that succeeded is not started; the
request reports that run instead. `force` turns this off. A run of a chain is only
cached when every run it waits for in the same request is cached too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core.engine import planning
from core.store import queries as run_queries
from core.store import queue_queries
from core.store.blobs import BlobStore
from core.errors import UnknownTarget, UsageError
from core.engine.launching import Batch, prepare_clone, prepare_launch
from core.store.ledger import Ledger
from core.paths import StorePaths
from core.protocol import COMPACT_RUNS, id_ranges
from core.requests import CloneRequest, LaunchRequest, PlanRequest
from core.engine.resuming import Resumer
from core.engine.scheduler import fits
from core.engine.targets import Registry, TargetRuntime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from core.engine.search import Searches


_KEY_PREFIX = 16            # of a spec key: enough to tell almost every miss without a query


class Intake:
    def __init__(self, ledger: Ledger, registry: Registry, paths: StorePaths, blobs: BlobStore,
                 hashes: dict, wake, resumer: Resumer):
        self.ledger = ledger
        self.registry = registry
        self.paths = paths
        self.blobs = blobs
        self.hashes = hashes
        self.wake = wake
        self.resumer = resumer              # finds the checkpoint a clone --resume starts from
        self.searches: Searches         # set by the engine (core.engine.server) at once
        # Prefixes of the spec keys of succeeded runs: a launch whose key is not here (the
        # usual case) needs no cache query. Kept current by `run_ended`.
        self.succeeded_keys = queue_queries.succeeded_key_prefixes(ledger.conn, _KEY_PREFIX)

    def run_ended(self, run) -> None:
        if run.state.value == "succeeded" and run.spec_key:
            self.succeeded_keys.add(run.spec_key[:_KEY_PREFIX])

    # ------------------------------------------------------------ preparing

    def resolve_after(self, value) -> int:
        return run_queries.resolve_id(self.ledger.conn, str(value))

    async def prepare_launch(self, req: LaunchRequest, store: bool = True) -> Batch:
        return await prepare_launch(req, self.blobs, self.hashes, (self.paths.home,),
                                    self.resolve_after, store=store)

    async def prepare_clone(self, req: CloneRequest, store: bool = True) -> tuple[Batch, dict]:
        conn = self.ledger.conn
        parent = run_queries.get_run(conn, req.parent)
        resume = None
        if req.resume:
            resume = (await self.resumer.clone_point(parent, req.policy.checkpoints)).text()
        batch = await prepare_clone(req, parent, run_queries.options(conn, parent.id),
                                    self.blobs, self.hashes, (self.paths.home,),
                                    self.resolve_after, resume_point=resume, store=store)
        return batch, run_queries.clone_source(conn, parent.id)

    async def runtimes(self, batch: Batch, learn: bool) -> dict[str, TargetRuntime]:
        """The targets of the batch, ready; a run that can never fit is refused."""
        if learn:
            self.registry.learn(batch.config.targets)
        out: dict[str, TargetRuntime] = {}
        wanted = [(planned.spec.target, planned.spec.gpus) for planned in batch.runs]
        wanted += [(group.search["target"], group.search["gpus"]) for group in batch.groups
                   if group.search is not None]           # a search's trials, asked later
        for name, gpus in wanted:
            if name not in out:
                out[name] = await self._ready_runtime(name, batch, learn)
            runtime = out[name]
            fixed = runtime.config.gpus
            if gpus and (fixed == "all" or isinstance(fixed, int)):
                raise UsageError(f"target {name!r} gives every run the same GPUs "
                                 f"(gpus = {fixed!r}), so --gpus does not apply there",
                                 hint="leave out --gpus, or list GPU ids (gpus = [0, 1]) so "
                                      "runyard places each run on its own")
            if runtime.ready and (problem := fits(runtime.capacity(), gpus)):
                raise UnknownTarget(problem, hint="ask for fewer GPUs (--gpus) or another target")
        return out

    async def _ready_runtime(self, name: str, batch: Batch, learn: bool) -> TargetRuntime:
        """The target, prepared now; a failure someone must fix is raised, a passing one
        (a box that does not answer yet) becomes a warning: its runs wait in the queue."""
        runtime = self.registry.get(name)
        config = batch.config.targets.get(name)
        if not learn and config is not None and (runtime is None or runtime.config != config):
            runtime = TargetRuntime(config, self.registry.context)      # not kept
        if runtime is None:
            runtime = self.registry.known(name)   # unknown to both: says so
        if not runtime.ready:
            runtime.retry_now()                   # a launch always tries the target afresh
        await runtime.prepare()
        failure = runtime.failure
        if failure is not None and not failure.transient:
            raise failure                         # host key, login, work folder: act first
        if failure is not None:
            batch.warnings.append(f"{failure.message}; the run waits until the target can "
                                  "be reached")
        return runtime

    def cached(self, batch: Batch, force: bool) -> list[int | None]:
        """For each run of the batch: the succeeded run it repeats, or None."""
        keys = sorted({planned.key for planned in batch.runs
                       if planned.key[:_KEY_PREFIX] in self.succeeded_keys})
        if force or not keys:
            return [None] * len(batch.runs)
        found = queue_queries.succeeded_by_spec_key(self.ledger.conn, keys)
        out: list[int | None] = []
        runs_again: set[int] = set()        # groups with a run that is not a cache hit
        for planned in batch.runs:
            hit = found.get(planned.key)
            if hit is not None and (any(out[i] is None for i in planned.after_local)
                                    or runs_again.intersection(planned.after_groups)
                                    or planned.after_search is not None):
                hit = None                  # what it waits for runs again: so does it
            if hit is None and planned.group is not None:
                runs_again.add(planned.group)
            out.append(hit)
        return out

    def cache_hit(self, planned) -> int | None:
        """The succeeded run one planned run repeats (a search's trial), or None."""
        if planned.key[:_KEY_PREFIX] not in self.succeeded_keys:
            return None
        return queue_queries.succeeded_by_spec_key(self.ledger.conn,
                                                   [planned.key]).get(planned.key)

    # ------------------------------------------------------------ recording

    async def record(self, batch: Batch, *, force: bool, base_env: dict | None = None,
                     parent_row: dict | None = None,
                     request_id: str | None = None,
                     group_ids: dict[int, int] | None = None
                     ) -> tuple[list[int], list[int | None]]:
        """Write the batch's new runs; returns every run's id and which were cache hits.
        With `request_id`, what the request did is recorded under it in the same
        transaction (see `answered`). `group_ids` receives the id of each group recorded,
        by its index in the batch."""
        await self.runtimes(batch, learn=True)
        reuse = self.cached(batch, force)
        fresh = {}
        snapshot_row = None
        if batch.snapshot is not None:
            fresh = batch.snapshot.fresh_hashes
            snapshot_row = (batch.snapshot_id, str(batch.project.root),
                            batch.snapshot.file_count, batch.snapshot.total_bytes)
        if parent_row is not None and batch.snapshot is None:
            diff_id, dirty = parent_row["git_diff"], bool(parent_row["git_dirty"])
        else:
            diff = batch.git.diff
            diff_id = self.blobs.put_bytes(diff) if diff else None
            dirty = bool(diff)
        if parent_row is not None:
            base_env_id = parent_row["base_env"]
        else:
            base_env_id = self.blobs.put_bytes(
                json.dumps(base_env or {}, sort_keys=True, separators=(",", ":")).encode())
        parent = batch.runs[0].spec.parent if batch.runs else None
        ids = self.ledger.insert_batch(
            list(zip(batch.runs, reuse)), batch.groups, snapshot=batch.snapshot_id,
            project=str(batch.project.root), workdir=batch.project.workdir,
            git_commit=batch.git.commit, git_diff=diff_id, git_dirty=dirty,
            base_env=base_env_id, snapshot_row=snapshot_row, hashes=fresh,
            message="queued" if parent is None else f"queued, cloned from run {parent}",
            request=(request_id, {"warnings": batch.warnings}) if request_id else None,
            group_ids=group_ids)
        self.hashes.update(fresh)
        if any(r is None for r in reuse):
            self.wake()
        return ids, reuse

    def reply(self, ids: list[int], cached: list[int], warnings: list[str], full: bool,
              groups: Sequence[int] = ()) -> dict:
        """What a launch or clone answers: every run's JSON, or, past COMPACT_RUNS runs and
        unless `full` is asked for, the first run, the ids as ranges and their count.
        `groups`: groups to include even without a run in `ids` (a search's)."""
        conn = self.ledger.conn
        unique = list(dict.fromkeys(ids))
        out: dict = {"cached": cached, "warnings": warnings}
        if full or len(unique) <= COMPACT_RUNS:
            runs = run_queries.runs_json_by_id(conn, unique)
            found = run_queries.groups_json(conn, [r["group"] for r in runs] + list(groups))
            return {"run": runs[0] if runs else None, "runs": runs, "groups": found, **out}
        first = run_queries.runs_json_by_id(conn, unique[:1])
        found = run_queries.groups_json(conn, run_queries.group_ids_of(conn, unique)
                                        + list(groups))
        return {"run": first[0] if first else None, "ids": id_ranges(unique),
                "count": len(unique), "groups": found, **out}

    # ------------------------------------------------------------ ops

    def answered(self, request_id: str | None, full: bool) -> dict | None:
        """The reply to a launch or clone already recorded under this id: its client lost
        the engine before the reply (killed mid-launch) and asks again (core.client)."""
        if not request_id:
            return None
        done = run_queries.request_outcome(self.ledger.conn, request_id)
        if done is None:
            return None
        return {**self.reply(done["ids"], done["cached"], done.get("warnings", []), full,
                             done.get("searches", [])), "again": True}

    async def op_launch(self, req: LaunchRequest) -> dict:
        if req.watch:
            raise UsageError("--watch is handled by the watch service")
        if (done := self.answered(req.request_id, req.full)) is not None:
            return done
        batch = await self.prepare_launch(req)
        searching = any(group.search is not None for group in batch.groups)
        if searching:
            self.searches.check(batch)
        group_ids: dict[int, int] = {}
        ids, reuse = await self.record(batch, force=req.force, base_env=req.env,
                                       request_id=req.request_id, group_ids=group_ids)
        searches = [group_ids[i] for i, group in enumerate(batch.groups)
                    if group.search is not None and i in group_ids]
        if searches:                  # recorded: now their first trials (in the store next)
            trials = await self.searches.started(searches)
            ids, reuse = ids + trials, reuse + [None] * len(trials)
        return self.reply(ids, _cached(reuse), batch.warnings, req.full, searches)

    async def op_clone(self, req: CloneRequest) -> dict:
        if (done := self.answered(req.request_id, req.full)) is not None:
            return done
        batch, parent_row = await self.prepare_clone(req)
        ids, reuse = await self.record(batch, force=req.force, parent_row=parent_row,
                                       request_id=req.request_id)
        return self.reply(ids, _cached(reuse), batch.warnings, req.full)

    async def op_plan(self, request: PlanRequest) -> dict:
        """What launch or clone would do now; writes nothing, starts nothing."""
        watch: list[str] = []
        if request.launch is not None:
            launch = request.launch
            batch = await self.prepare_launch(launch, store=False)
            watch = [str(Path(launch.cwd, p).resolve()) for p in launch.watch]
            force = launch.force or bool(watch)
        elif request.clone is not None:
            batch, _row = await self.prepare_clone(request.clone, store=False)
            force = request.clone.force
        for path in watch:
            if not Path(path).exists():
                raise UsageError(f"--watch {path}: no such file or folder")
        if any(group.search is not None for group in batch.groups):
            self.searches.check(batch)
            batch.runs = batch.runs + self.searches.preview(batch)   # the first trials
        runtimes = await self.runtimes(batch, learn=False)
        plan = planning.plan(self.ledger.conn, batch, runtimes,
                             self.cached(batch, force))
        if watch:
            plan["watch"] = {"paths": watch}
        return {"plan": plan}


def _cached(reuse: list[int | None]) -> list[int]:
    return sorted({r for r in reuse if r is not None})
