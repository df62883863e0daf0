"""The SQLite database: opening it, and its schema as numbered migrations.

The engine is the only writer (see core.store.ledger); the CLI and the app open it to read.
WAL mode lets readers read while the engine writes. Migrations run in the engine, with
sqlite-utils, and `PRAGMA user_version` records the last one applied.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path

from core.errors import StoreError
from core.store.queries import RUN_JSON_SQL


# What a damaged database (garbage, truncated, another program's file) is told to do.
REPAIR_HINT = ("move it aside (mv runyard.db runyard.db.damaged) and rebuild the runs from "
               "their folders: tui engine repair")


def connect(path: Path, *, write: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas runyard relies on. Readers never create the file.
    A file that is not a usable runyard database is a StoreError saying so."""
    if not write and not path.exists():
        raise FileNotFoundError(path)
    try:
        conn = _open(path, write)
    except sqlite3.Error as exc:
        if write or not read_only(path):
            raise database_error(path, exc) from None
        try:        # a store on a read-only file system: nobody can change it, read it as is
            conn = _open(f"file:{urllib.parse.quote(os.fsdecode(path))}?immutable=1", False)
        except sqlite3.Error as again:
            raise database_error(path, again) from None
    conn.row_factory = sqlite3.Row
    return conn


def _open(path, write: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False,
                           uri=isinstance(path, str) and path.startswith("file:"))
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database?
    if write:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


def read_only(path: Path) -> bool:
    """Whether the database's file system is mounted read-only."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def database_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """A StoreError for what SQLite said about the store's database file."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and any(
            word in text for word in ("not a database", "malformed", "corrupt")):
        return StoreError(f"the store database {path} is damaged ({text})", hint=REPAIR_HINT)
    if "readonly" in text or "read-only" in text or read_only(path):
        return StoreError(f"the store database {path} cannot be written ({text})",
                          hint="the store is on a read-only file system: it can be listed, "
                               "not changed; point RUNYARD_HOME at a store you can write")
    return StoreError(f"cannot open the store database {path}: {text}")


def damage(path: Path) -> str | None:
    """Why SQLite cannot use the database at `path` (its quick_check, or the error reading
    it), or None when it can. Reads every page: for `tui engine repair`, not every start."""
    try:
        conn = connect(path)
    except StoreError as exc:
        return exc.message
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return None if result == "ok" else f"quick_check: {result}"


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_readable(conn: sqlite3.Connection) -> None:
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise StoreError(f"the store was written by a newer runyard (schema {version}, "
                         f"this version knows {len(MIGRATIONS)})",
                         hint="upgrade runyard, or point RUNYARD_HOME at another store")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, each in its own transaction; then make
    sure the run-JSON triggers match this version's definition."""
    version = schema_version(conn)
    check_readable(conn)
    if version == len(MIGRATIONS):
        keep_run_json(conn)
        return version
    import sqlite_utils      # lazy: ~60 ms; only a migration needs it, never a reading command
    db = sqlite_utils.Database(conn)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    keep_run_json(conn)
    return len(MIGRATIONS)


def keep_run_json(conn: sqlite3.Connection) -> None:
    """Triggers keep `runs.json`, each run's JSON (core.store.queries.RUN_JSON_SQL), up to date on
    every insert and update, whoever writes; a listing then reads stored text instead of
    building it (10,000 runs: a read of a few MB). When the definition changes (a field
    added), the triggers are made anew and every row is filled again."""
    conn.execute("PRAGMA recursive_triggers = OFF")    # sqlite-utils turns it on
    body = f"UPDATE runs SET json = {RUN_JSON_SQL} WHERE id = NEW.id;"
    # Fired by a change to any column but json itself, so its own update never fires it.
    others = ", ".join(row[1] for row in conn.execute("PRAGMA table_info(runs)")
                       if row[1] != "json")
    wanted = {
        "runs_json_insert": f"CREATE TRIGGER runs_json_insert AFTER INSERT ON runs "
                            f"BEGIN {body} END",
        "runs_json_update": f"CREATE TRIGGER runs_json_update AFTER UPDATE OF {others} "
                            f"ON runs BEGIN {body} END",
    }
    have = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                             "AND name LIKE 'runs_json_%'"))
    if have == wanted:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in have:
            conn.execute(f"DROP TRIGGER {name}")
        for sql in wanted.values():
            conn.execute(sql)
        conn.execute(f"UPDATE runs SET json = {RUN_JSON_SQL}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------- migrations

def _m1_initial(db) -> None:
    db["runs"].create({
        "id": int, "name": str, "state": str, "reason": str, "exit_code": int,
        "target": str, "gpus": int, "gpu_ids": str,
        "command": str, "template": str, "params": str, "overrides": str, "env": str,
        "tags": str, "parent": int, "priority": int, "options": str,
        "snapshot": str, "project": str, "workdir": str,
        "git_commit": str, "git_dirty": int, "git_diff": str, "base_env": str,
        "created_at": str, "started_at": str, "finished_at": str,
        "cancel_requested_at": str, "metrics": str, "handle": str, "ingest": str,
    }, pk="id", not_null={"state", "target", "command", "template", "project", "created_at"},
        defaults={"gpus": 0, "gpu_ids": "[]", "params": "{}", "overrides": "{}", "env": "{}",
                  "tags": "[]", "priority": 0, "options": "{}", "workdir": "", "git_dirty": 0,
                  "metrics": "{}", "handle": "{}", "ingest": "{}"},
        foreign_keys=[("parent", "runs", "id")])
    db["runs"].create_index(["state"])
    db["runs"].create_index(["parent"])
    db["events"].create({"id": int, "run_id": int, "at": str, "kind": str, "state": str,
                         "message": str, "data": str},
                        pk="id", not_null={"run_id", "at", "kind"},
                        foreign_keys=[("run_id", "runs", "id")])
    db["events"].create_index(["run_id"])
    db.execute("""CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        value REAL,                 -- NULL stands for NaN (SQLite has no NaN)
        at REAL NOT NULL,
        PRIMARY KEY (run_id, key, step)
    ) WITHOUT ROWID""")
    db["snapshots"].create({"id": str, "root": str, "file_count": int, "total_bytes": int,
                            "created_at": str}, pk="id")
    db.execute("""CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, digest TEXT
    ) WITHOUT ROWID""")
    db["targets"].create({"name": str, "kind": str, "config": str, "source": str,
                          "updated_at": str, "status": str, "message": str, "gpus": str},
                         pk="name")


def _m2_workflows(db) -> None:
    """Sweeps and chains (groups), dependencies, retries as linked attempts, stop rules,
    the spec key that caching looks up, and persisted watches."""
    db["groups"].create({"id": int, "kind": str, "name": str, "parent": int, "spec": str,
                         "created_at": str}, pk="id", not_null={"kind", "created_at"},
                        defaults={"spec": "{}"}, foreign_keys=[("parent", "groups", "id")])
    for column, kind in (("group_id", "INTEGER REFERENCES groups(id)"),
                         ("depends_on", "TEXT NOT NULL DEFAULT '[]'"),
                         ("spec_key", "TEXT"),
                         ("attempt", "INTEGER NOT NULL DEFAULT 1"),
                         ("retry_of", "INTEGER REFERENCES runs(id)"),
                         ("retried_as", "INTEGER REFERENCES runs(id)"),
                         ("not_before", "TEXT"),
                         ("avoid_gpus", "TEXT NOT NULL DEFAULT '[]'"),
                         ("cause", "TEXT"),
                         ("resume_from", "TEXT"),
                         ("retries", "INTEGER NOT NULL DEFAULT 0"),
                         ("retry_on", "TEXT"),
                         ("retry_delay", "REAL NOT NULL DEFAULT 5"),
                         ("stop_if", "TEXT NOT NULL DEFAULT '[]'"),
                         ("checkpoints", "TEXT")):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    db["runs"].create_index(["group_id"])
    db["runs"].create_index(["retry_of"])
    db["runs"].create_index(["spec_key", "state"])
    db["watches"].create({"id": int, "group_id": int, "paths": str, "request": str,
                          "debounce": float, "state": str, "created_at": str,
                          "stopped_at": str, "last_run": int, "triggers": int, "changes": int,
                          "fingerprint": str, "last_error": str},
                         pk="id", not_null={"paths", "request", "state", "created_at"},
                         defaults={"triggers": 0, "changes": 0},
                         foreign_keys=[("group_id", "groups", "id")])


def _m3_run_detail(db) -> None:
    """What a run's target says about it while it runs (Slurm: `job 12 pending (Priority)`)."""
    db.execute("ALTER TABLE runs ADD COLUMN detail TEXT")


def _m4_run_json(db) -> None:
    """Each run's JSON, kept by triggers (see keep_run_json)."""
    db.execute("ALTER TABLE runs ADD COLUMN json TEXT")


def _m5_removed_runs(db) -> None:
    """Runs removed with `tui rm`: their ids are never given out again, and a lookup of one
    says it was removed. `seq` orders removals, for readers that watch for them (the app)."""
    db.execute("""CREATE TABLE removed (
        seq INTEGER PRIMARY KEY, run_id INTEGER NOT NULL UNIQUE, name TEXT, state TEXT,
        at TEXT NOT NULL)""")


def _m6_hash_ctime(db) -> None:
    """The snapshot hash cache also keys on ctime: a file rewritten in place with its size
    and mtime put back (`cp -p`, `rsync -t`) is hashed again. Old rows never match."""
    db.execute("ALTER TABLE file_hashes ADD COLUMN ctime_ns INTEGER")


def _m7_launch_requests(db) -> None:
    """Launch and clone requests by their id, and the runs each recorded: a client that lost
    its connection (the engine was killed mid-launch) asks again and learns the truth."""
    db.execute("""CREATE TABLE requests (
        id TEXT PRIMARY KEY, at TEXT NOT NULL, reply TEXT NOT NULL) WITHOUT ROWID""")


def _m8_exact_paths(db) -> None:
    """A project folder or launch subfolder whose name is not UTF-8: the exact path (JSON,
    surrogate-escaped) beside the readable one in `project` and `workdir`."""
    db.execute("ALTER TABLE runs ADD COLUMN exact_paths TEXT")


def _m9_run_files(db) -> None:
    """Declared outputs (`--outputs`, pulled when the run ends), the checkpoint a run resumes
    from as RUN:PATH (`resume_point`; `resume_from` is then the path it read it by), and the
    files pulled to this machine (`tui pull`): where each went, with the size, mtime and
    sha256 it was written with, so a second pull skips it and `tui rm` deletes only what
    runyard wrote."""
    db.execute("ALTER TABLE runs ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE runs ADD COLUMN resume_point TEXT")
    db.execute("""CREATE TABLE pulled (
        run_id INTEGER NOT NULL, dest TEXT NOT NULL, path TEXT NOT NULL,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
        at TEXT NOT NULL, why TEXT NOT NULL,
        PRIMARY KEY (run_id, dest, path)) WITHOUT ROWID""")


def _m10_searches(db) -> None:
    """Adaptive searches (`--search`): the study lives here, so a restarted engine rebuilds
    it. A search is a group with a row in `searches` (its state, budget and the template
    each trial's run is made from); each trial asked of the sampler is a row in `trials`
    (its sampled values, how it ended as told to the sampler, the sampler's and pruner's
    notes on it). A run of a later workflow step waits for a search in `after_search`."""
    db.execute("""CREATE TABLE searches (
        group_id INTEGER PRIMARY KEY REFERENCES groups(id),
        state TEXT NOT NULL,                -- running, finished, stopped, failed
        budget INTEGER NOT NULL,            -- completed and pruned trials wanted
        reason TEXT,                        -- why it stopped or failed
        template TEXT NOT NULL,             -- what each trial's run is made from (JSON)
        told_from INTEGER NOT NULL DEFAULT 0,   -- failures in a row count after this tell
        updated_at TEXT NOT NULL)""")
    db.execute("""CREATE TABLE trials (
        group_id INTEGER NOT NULL REFERENCES groups(id),
        number INTEGER NOT NULL,            -- 0, 1, 2... in the order they were asked
        run_id INTEGER NOT NULL,            -- its run (first attempt), or a cache hit's run
        params TEXT NOT NULL,               -- the sampled values, typed (JSON)
        state TEXT NOT NULL,                -- running, complete, pruned, fail
        value REAL,                         -- its objective (complete), last value (pruned)
        result_run INTEGER,                 -- the attempt whose outcome was told
        reason TEXT,                        -- why it failed or was pruned
        pruned_step INTEGER,                -- the step the pruner judged it at
        attrs TEXT NOT NULL DEFAULT '{}',   -- the sampler's and pruner's notes (JSON)
        told INTEGER,                       -- the order in which outcomes were told
        created_at TEXT NOT NULL,
        ended_at TEXT,
        PRIMARY KEY (group_id, number))""")
    db.execute("CREATE INDEX trials_run ON trials (run_id)")
    db.execute("ALTER TABLE runs ADD COLUMN after_search INTEGER REFERENCES groups(id)")


def _m11_group_dependencies(db) -> None:
    """A run of a chain waits for a whole earlier step by its group (`after_groups`, JSON
    group ids) instead of naming each of its runs: a 10-step chain of 1,000-run sweeps
    records 9,000 group ids, not 9 million run ids. The index answers "has this group a
    run still active" without reading the group."""
    db.execute("ALTER TABLE runs ADD COLUMN after_groups TEXT NOT NULL DEFAULT '[]'")
    db["runs"].create_index(["group_id", "state"])


# Applied in order; the number of a migration is its position (1-based).
MIGRATIONS = [
    _m1_initial,
    _m2_workflows,
    _m3_run_detail,
    _m4_run_json,
    _m5_removed_runs,
    _m6_hash_ctime,
    _m7_launch_requests,
    _m8_exact_paths,
    _m9_run_files,
    _m10_searches,
    _m11_group_dependencies,
]
