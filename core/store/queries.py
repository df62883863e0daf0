"""Reading runs from the database, and the stable JSON shape of a run (schema 1).

The one read API of the store, with core.store.queue_queries (what the scheduler reads),
core.store.runlist_queries (what the app's run list reads) and core.store.metric_queries
(metric series, curves and the ingest's record): no other layer writes
SQL. Used by the CLI, the app and the engine. The JSON of a run is built by SQLite itself
(RUN_JSON_SQL) and kept in `runs.json` by triggers on every change (core.store.db.keep_run_json),
so listing 10,000 runs reads stored text: one query, no per-row Python or JSON work. The
JSON paths do not need core.models (dataclasses costs a CLI call ~10 ms to import); only
the functions that build `Run` objects import it.
"""

from __future__ import annotations

import json
import sqlite3

from core.errors import UnknownRun
from core.store import search_queries

SCHEMA = 1

# Runs shown by `tui status` without --all: every queued or running run, and this many of
# the most recently finished ones.
RECENT_FINISHED = 20

RUN_JSON_SQL = """json_object(
    'id', id,
    'name', name,
    'state', state,
    'detail', CASE WHEN state = 'running' THEN detail END,
    'reason', reason,
    'exit_code', exit_code,
    'target', target,
    'gpus', json(gpu_ids),
    'gpu_count', gpus,
    'command', json(command),
    'params', json(params),
    'env', json(env),
    'tags', json(tags),
    'parent', parent,
    'snapshot', snapshot,
    'project', project,
    'workdir', workdir,
    'git', json_object('commit', git_commit,
                       'dirty', json(CASE WHEN git_dirty THEN 'true' ELSE 'false' END)),
    'created_at', created_at,
    'started_at', started_at,
    'finished_at', finished_at,
    'metrics', json(metrics),
    'group', group_id,
    'depends_on', json(depends_on),
    'after_groups', json(after_groups),
    'attempt', attempt,
    'retry_of', retry_of,
    'retried_as', retried_as,
    'retries', retries,
    'retry_on', retry_on,
    'not_before', not_before,
    'stop_if', json(stop_if),
    'cause', cause,
    'checkpoints', checkpoints,
    'resume_from', resume_from,
    'resume_point', resume_point,
    'outputs', json(outputs),
    'spec_key', spec_key,
    'after_search', after_search
)"""

# What readers select: the JSON the triggers keep (core.store.db.keep_run_json), built on the
# spot only for a row that has none (written before the triggers existed).
STORED_JSON = f"coalesce(json, {RUN_JSON_SQL})"

GROUP_JSON_SQL = """json_object(
    'id', id, 'kind', kind, 'name', name, 'parent', parent, 'created_at', created_at,
    'spec', json(spec),
    'runs', (SELECT count(*) FROM runs WHERE runs.group_id = groups.id)
)"""


def _filters(states, all_runs: bool, ids=None, group=None) -> tuple[str, list]:
    clauses, args = [], []
    if group is not None:
        clauses.append("group_id IN (SELECT id FROM groups WHERE id = ? OR parent = ?)")
        args.extend([group, group])
    if ids:
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if states:
        clauses.append(f"state IN ({','.join('?' * len(states))})")
        args.extend(str(s) for s in states)
    elif not all_runs and not ids and group is None:
        clauses.append(
            "(state IN ('queued', 'running') OR id IN (SELECT id FROM runs "
            "WHERE state NOT IN ('queued', 'running') ORDER BY id DESC LIMIT ?))")
        args.append(RECENT_FINISHED)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return where, args


def runs_json(conn: sqlite3.Connection, states=(), all_runs: bool = False,
              group: int | None = None) -> list[str]:
    """The JSON text of each selected run, oldest first."""
    where, args = _filters(states, all_runs, group=group)
    return [row[0] for row in conn.execute(
        f"SELECT {STORED_JSON} FROM runs {where} ORDER BY id", args)]


def runs_json_by_id(conn: sqlite3.Connection, ids: list[int]) -> list[dict]:
    """The JSON of these runs (in the order given), in one query per 500 ids."""
    found: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for (text,) in conn.execute(f"SELECT {STORED_JSON} FROM runs WHERE id IN "
                                    f"({','.join('?' * len(chunk))})", chunk):
            data = json.loads(text)
            found[data["id"]] = data
    return [found[i] for i in ids if i in found]


def group_ids_of(conn: sqlite3.Connection, ids: list[int]) -> list[int]:
    """The groups these runs belong to."""
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(row[0] for row in conn.execute(
            f"SELECT DISTINCT group_id FROM runs WHERE group_id IS NOT NULL AND id IN "
            f"({','.join('?' * len(chunk))})", chunk))
    return sorted(found)


def groups_json(conn: sqlite3.Connection, ids=None) -> list[dict]:
    """Groups (sweeps, chains, watches) as JSON: the given ids and the groups enclosing
    them (a chain around its sweeps), or every group."""
    if ids is not None:
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        where = f"WHERE id IN ({marks}) OR id IN (SELECT parent FROM groups WHERE id IN ({marks}))"
        args = ids + ids
    else:
        where, args = "", []
    groups = [json.loads(row[0]) for row in conn.execute(
        f"SELECT {GROUP_JSON_SQL} FROM groups {where} ORDER BY id", args)]
    searches = [g["id"] for g in groups if g["kind"] == "search"]
    if searches:                                    # progress and best trial, as of now
        found = search_queries.progress(conn, searches)
        for group in groups:
            if group["id"] in found:
                group["search"] = found[group["id"]]
    return groups


def groups_of_runs(conn: sqlite3.Connection, states=(), all_runs: bool = False,
                   group: int | None = None) -> list[dict]:
    """The groups of the runs a listing selects (see `runs_json`)."""
    where, args = _filters(states, all_runs, group=group)
    ids = [row[0] for row in conn.execute(
        f"SELECT DISTINCT group_id FROM runs {where}", args) if row[0] is not None]
    return groups_json(conn, ids)


def list_runs(conn: sqlite3.Connection, states=(), all_runs: bool = False,
              ids=None, group: int | None = None) -> list:
    where, args = _filters(states, all_runs, ids, group)
    return [row_to_run(r) for r in conn.execute(f"SELECT * FROM runs {where} ORDER BY id", args)]


def runs_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict:
    """These runs as `core.models.Run`, by id, in one query per 500 ids; ids of no run
    are left out."""
    found = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(f"SELECT * FROM runs WHERE id IN ({','.join('?' * len(chunk))})",
                                chunk):
            run = row_to_run(row)
            found[run.id] = run
    return found


def get_run(conn: sqlite3.Connection, run_id: int):
    """The run as a `core.models.Run`."""
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise UnknownRun(f"no run with id {run_id}", hint="list runs with: tui status --all")
    return row_to_run(row)


def run_json(conn: sqlite3.Connection, run_id: int) -> dict:
    row = conn.execute(f"SELECT {STORED_JSON} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise UnknownRun(f"no run with id {run_id}", hint="list runs with: tui status --all")
    return json.loads(row[0])


def resolve_id(conn: sqlite3.Connection, text: str) -> int:
    """A run id from user text: a number, or `last` for the newest run."""
    if text == "last":
        row = conn.execute("SELECT max(id) FROM runs").fetchone()
        if row[0] is None:
            raise UnknownRun("there are no runs yet", hint="start one with: tui launch -- CMD")
        return row[0]
    try:
        run_id = int(text)
    except ValueError:
        raise UnknownRun(f"{text!r} is not a run id", hint="run ids are numbers, or `last`") from None
    if not 0 < run_id < 2 ** 63:                       # what SQLite's integers can hold
        raise UnknownRun(f"no run with id {text}", hint="list runs with: tui status --all")
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        gone = _removed(conn, run_id)
        if gone is not None:
            raise UnknownRun(f"run {run_id} was removed at {gone}", hint="ids of removed "
                             "runs are not used again; list runs with: tui status --all")
        raise UnknownRun(f"no run with id {run_id}", hint="list runs with: tui status --all")
    return run_id


def request_outcome(conn: sqlite3.Connection, request_id: str) -> dict | None:
    """What a launch or clone recorded under its request id ({"ids", "cached", "warnings"})."""
    row = conn.execute("SELECT reply FROM requests WHERE id = ?", (request_id,)).fetchone()
    return json.loads(row[0]) if row else None


def runs_with_pending_metrics(conn: sqlite3.Connection) -> set[int]:
    """Ended runs whose metrics still wait to be read (core.engine.metric_room)."""
    return {row[0] for row in conn.execute(
        "SELECT id FROM runs WHERE ingest LIKE '%\"pending\":true%' "
        "AND state NOT IN ('queued', 'running')")}


def known_run_ids(conn: sqlite3.Connection) -> set[int]:
    """Every run id the store has given out: its runs, and the runs removed with `tui rm`
    (a migrated store: the engine and repair read it after migrating)."""
    return {row[0] for row in conn.execute("SELECT id FROM runs UNION SELECT run_id FROM removed")}


def run_record(conn: sqlite3.Connection, run_id: int) -> dict | None:
    """The run's row as a plain dict (every column but its derived JSON), for its folder."""
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    return {key: row[key] for key in row.keys() if key != "json"}


def _removed(conn: sqlite3.Connection, run_id: int) -> str | None:
    """When the run was removed with `tui rm`, or None."""
    try:
        row = conn.execute("SELECT at FROM removed WHERE run_id = ?", (run_id,)).fetchone()
    except sqlite3.OperationalError:                  # a store from before `tui rm`
        return None
    return row[0] if row else None


def row_to_run(row: sqlite3.Row):
    # lazy: core.models and core.requests (~11 ms) build Run objects; `tui status --json`
    # copies stored JSON text and never needs them (tests/bench/bench_imports.py)
    from core.models import Run, RunSpec, RunState
    from core.requests import RunPolicy
    r = dict(zip(row.keys(), tuple(row)))       # one pass: Row lookups by name are linear
    policy = RunPolicy.stored(after=_loads(r["depends_on"]), retries=r["retries"],
                              retry_on=r["retry_on"], retry_delay=r["retry_delay"],
                              stop_if=_loads(r["stop_if"]), checkpoints=r["checkpoints"],
                              outputs=_loads(r["outputs"]))
    spec = RunSpec(command=_loads(r["command"]), template=_loads(r["template"]),
                   params=_loads(r["params"]), overrides=_loads(r["overrides"]),
                   target=r["target"], gpus=r["gpus"], env=_loads(r["env"]),
                   name=r["name"], tags=_loads(r["tags"]), parent=r["parent"],
                   priority=r["priority"], policy=policy)
    exact = json.loads(r["exact_paths"]) if r.get("exact_paths") else {}
    return Run(id=r["id"], spec=spec, state=RunState(r["state"]), snapshot=r["snapshot"],
               project=exact.get("project", r["project"]),
               workdir=exact.get("workdir", r["workdir"]), reason=r["reason"],
               exit_code=r["exit_code"], gpu_ids=_loads(r["gpu_ids"]),
               created_at=r["created_at"], started_at=r["started_at"],
               finished_at=r["finished_at"], metrics=_loads(r["metrics"]),
               handle=_loads(r["handle"]), git_commit=r["git_commit"],
               git_dirty=bool(r["git_dirty"]),
               cancel_requested=r["cancel_requested_at"] is not None,
               group_id=r["group_id"], attempt=r["attempt"], retry_of=r["retry_of"],
               retried_as=r["retried_as"], not_before=r["not_before"],
               avoid_gpus=_loads(r["avoid_gpus"]), cause=r["cause"],
               resume_from=r["resume_from"], resume_point=r["resume_point"],
               spec_key=r["spec_key"],
               detail=r["detail"] if r["state"] == "running" else None)


def _loads(text: str):
    """json.loads, without parsing the empty list and object most columns hold."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


# ---------------------------------------------------------------- counts and single facts

def active_count(conn: sqlite3.Connection) -> int:
    """How many runs are queued or running (the state index answers it)."""
    return conn.execute(
        "SELECT count(*) FROM runs WHERE state IN ('queued', 'running')").fetchone()[0]


def count_by_state(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM runs GROUP BY state").fetchall())


def last_failure(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(id, name) of the run that failed or was lost most recently."""
    row = conn.execute("SELECT id, name FROM runs WHERE state IN ('failed', 'lost') "
                       "ORDER BY finished_at DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None


def state_and_next_attempt(conn: sqlite3.Connection, run_id: int) -> tuple[str, int | None] | None:
    """The run's state and the id of its retry; None when it no longer exists (removed)."""
    row = conn.execute("SELECT state, retried_as FROM runs WHERE id = ?", (run_id,)).fetchone()
    return (row[0], row[1]) if row else None


def snapshot_size(conn: sqlite3.Connection, snapshot_id: str | None) -> tuple[int, int] | None:
    """(file count, total bytes) of a recorded snapshot."""
    row = conn.execute("SELECT file_count, total_bytes FROM snapshots WHERE id = ?",
                       (snapshot_id,)).fetchone()
    return (row[0], row[1]) if row else None


def git_diff_blob(conn: sqlite3.Connection, run_id: int) -> str | None:
    """The blob id of the uncommitted diff recorded with the run."""
    row = conn.execute("SELECT git_diff FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def base_env_blob(conn: sqlite3.Connection, run_id: int) -> str | None:
    """The blob id of the launching shell's environment recorded with the run."""
    row = conn.execute("SELECT base_env FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def clone_source(conn: sqlite3.Connection, run_id: int) -> dict:
    """What a clone that reuses the run's code takes over: its environment and git diff."""
    row = conn.execute("SELECT base_env, git_diff, git_dirty FROM runs WHERE id = ?",
                       (run_id,)).fetchone()
    return dict(row)


def target_names(conn: sqlite3.Connection) -> list[str]:
    """The targets the engine has seen (it records each when first used)."""
    return [row[0] for row in conn.execute("SELECT name FROM targets ORDER BY name")]


def targets(conn: sqlite3.Connection) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM targets ORDER BY name")]


def file_hashes(conn: sqlite3.Connection) -> dict:
    """The snapshot hash cache: path -> (size, mtime_ns, inode, ctime_ns, digest)."""
    return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(
        "SELECT path, size, mtime_ns, inode, ctime_ns, digest FROM file_hashes "
        "WHERE ctime_ns IS NOT NULL")}


def watch(conn: sqlite3.Connection, watch_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM watches WHERE id = ?", (watch_id,)).fetchone()


def watches(conn: sqlite3.Connection, watch_id: int | None = None) -> list[sqlite3.Row]:
    """Every watch (`tui launch --watch`), or the one with this id."""
    if watch_id is not None:
        return conn.execute("SELECT * FROM watches WHERE id = ?", (watch_id,)).fetchall()
    return conn.execute("SELECT * FROM watches ORDER BY id").fetchall()


def options(conn: sqlite3.Connection, run_id: int) -> dict:
    row = conn.execute("SELECT options FROM runs WHERE id = ?", (run_id,)).fetchone()
    return json.loads(row[0]) if row else {}


def events(conn: sqlite3.Connection, run_id: int) -> list[dict]:
    return [{"at": r["at"], "kind": r["kind"], "state": r["state"], "message": r["message"]}
            for r in conn.execute("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,))]


def pulled_files(conn: sqlite3.Connection, run_id: int,
                 dest: str) -> dict[str, tuple[int, int, str]]:
    """What pulls of a run wrote into `dest`: path -> (size, mtime_ns, sha256)."""
    rows = conn.execute("SELECT path, size, mtime_ns, sha256 FROM pulled "
                        "WHERE run_id = ? AND dest = ?", (run_id, dest))
    return {path: (size, mtime, sha) for path, size, mtime, sha in rows}


def pulled_rows(conn: sqlite3.Connection,
                ids: list[int]) -> list[tuple[str, str, int, int, str]]:
    """(dest, path, size, mtime_ns, sha256) of every file pulls of these runs wrote."""
    out: list = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out += conn.execute(f"SELECT dest, path, size, mtime_ns, sha256 FROM pulled WHERE "
                            f"run_id IN "
                            f"({','.join('?' * len(chunk))}) ORDER BY dest, path",
                            chunk).fetchall()
    return [tuple(row) for row in out]


def pulls(conn: sqlite3.Connection, run_id: int) -> list[dict]:
    """Per destination: how many files pulls put there, their bytes, the last time, and why
    (`pull`: asked for; `outputs`: declared outputs when the run ended; `resume`)."""
    return [{"to": dest, "files": count, "bytes": total, "at": at, "why": why}
            for dest, count, total, at, why in conn.execute(
                "SELECT dest, count(*), sum(size), max(at), group_concat(DISTINCT why) "
                "FROM pulled WHERE run_id = ? GROUP BY dest ORDER BY max(at)", (run_id,))]
