"""`tui engine repair`: rebuild the runs a store's database lost from their run folders.

Run in place of the engine (it takes the engine's lock, so none runs meanwhile):

1. A database that cannot be read (garbage, truncated: SQLite's quick_check fails) is
   renamed aside (`runyard.db.damaged-<time>`), never deleted.
2. A missing database starts from the newest copy an engine saved when the file went away
   under it (`runyard.db.saved-<time>`, see core.engine.store_guard), else empty.
3. Every run folder the database does not know becomes a run again, with its id: its spec
   from `run.json` (core.store.runfile), its state from that record when it had ended,
   else from `exit_status` (exit code, end time), else `running` with its recorded handle
   (the next engine reattaches to it, or finds it lost); its metrics are read again from
   its log and metrics file. A folder without a record (an older runyard's) still becomes
   a run, with its exit status and metrics, so its id is never given out again.

Nothing in a run folder is changed, moved or overwritten. Prints what it did (`--json`:
one object) and exits 0; a store an engine is serving is refused (exit 5).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path

from core.engine.ingest import Ingestor, IngestState, latest_values
from core.errors import EngineError, RunyardError, StoreError
from core.executors.base import parse_status
from core.metrics.rules import MetricRules
from core.models import RunState, iso_from_epoch
from core.paths import StorePaths
from core.store import db, integrity, queries, runfile
from core.store.blobs import BlobStore
from core.store.ledger import Ledger
from core.store.snapshot import manifest

NOTE = "recovered from its run folder by tui engine repair"


def repair(paths: StorePaths) -> dict:
    """Repair the store; what was done, as the JSON `tui engine repair --json` prints."""
    paths.ensure()
    with open(paths.lock, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EngineError("an engine is serving this store, so its database is in use",
                              hint="stop it first: tui engine stop") from None
        report: dict = {"home": str(paths.home), "damaged": None, "started_from": None,
                        "recovered": [], "states": {}}
        report["damaged"] = _set_aside_if_damaged(paths)
        if not paths.db.exists():
            report["started_from"] = _start_from_saved_copy(paths)
        ledger = Ledger.open(paths.db)
        try:
            unknown = integrity.unknown_folders(ledger.conn, paths)
            rows = [_rebuilt(paths, run_id) for run_id in unknown]
            if rows:
                _restore_snapshots(ledger, paths, rows)
                ledger.restore_runs(rows, NOTE)
                for row in rows:
                    if RunState(row["state"]).terminal:      # running ones: the engine
                        _read_metrics(ledger, paths, row)
            report["recovered"] = [row["id"] for row in rows]
            for row in rows:
                report["states"][row["state"]] = report["states"].get(row["state"], 0) + 1
        finally:
            ledger.close()
    return report


def _set_aside_if_damaged(paths: StorePaths) -> str | None:
    """Rename a database SQLite cannot read (with its WAL files) out of the way."""
    if not paths.db.exists():
        return None
    problem = db.damage(paths.db)
    if problem is None:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = paths.home / f"runyard.db.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(paths.db) + suffix)
        if source.exists():
            os.rename(source, Path(str(aside) + suffix))
    return f"{aside.name} ({problem})"


def _start_from_saved_copy(paths: StorePaths) -> str | None:
    """Put the newest copy an engine saved in place of the missing database (a copy: the
    saved file stays). WAL files left by the lost database go aside first."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("-wal", "-shm"):
        stale = Path(str(paths.db) + suffix)
        if stale.exists():
            os.rename(stale, paths.home / f"runyard.db.stale-{stamp}{suffix}")
    saved = integrity.saved_copies(paths)
    if not saved:
        return None
    tmp = paths.home / "runyard.db.repairing"
    shutil.copyfile(saved[-1], tmp)
    os.replace(tmp, paths.db)
    used = saved[-1].with_name(saved[-1].name + ".used")     # never a start point again
    os.rename(saved[-1], used)
    return used.name


def _rebuilt(paths: StorePaths, run_id: int) -> dict:
    """The run's row, from its folder."""
    run_dir = paths.run_dir(run_id)
    row = runfile.read(run_dir)
    if row is None or row.get("id") != run_id:
        row = _without_record(run_dir, run_id)
    state = RunState(row["state"]) if row.get("state") in RunState._value2member_map_ \
        else RunState.LOST
    if not state.terminal:
        row.update(_state_from_folder(run_dir, row))
    row.update(id=run_id, ingest="{}", metrics="{}", detail=None)
    return row


def _state_from_folder(run_dir: Path, row: dict) -> dict:
    """A run the record shows active: its exit status if it ended, else running with its
    handle (the engine reattaches), else lost."""
    status_file = run_dir / "exit_status"
    try:
        status = parse_status(status_file.read_text(errors="replace"))
        ended_at = iso_from_epoch(status_file.stat().st_mtime)
    except OSError:
        status = None
    if status is not None:
        state = RunState.SUCCEEDED if status.exit_code == 0 else RunState.FAILED
        return {"state": state.value, "exit_code": status.exit_code,
                "reason": None if state is RunState.SUCCEEDED else status.reason,
                "finished_at": ended_at, "started_at": row.get("started_at") or ended_at}
    if row.get("handle") not in (None, "", "{}"):
        return {"state": RunState.RUNNING.value}
    return {"state": RunState.LOST.value, "exit_code": None, "finished_at": _mtime(run_dir),
            "reason": "it left no exit status (found by tui engine repair)"}


def _without_record(run_dir: Path, run_id: int) -> dict:
    """A run folder without run.json (written by a runyard before records were kept)."""
    created = _mtime(run_dir)
    return {"id": run_id, "name": f"run {run_id}", "state": RunState.LOST.value,
            "target": "local", "command": '["?"]', "template": '["?"]', "project": "?",
            "created_at": created, "started_at": created, "handle": "{}",
            "reason": "recovered without its spec (its folder kept no run.json)"}


def _mtime(path: Path) -> str:
    return iso_from_epoch(path.stat().st_mtime)


def _restore_snapshots(ledger: Ledger, paths: StorePaths, rows: list[dict]) -> None:
    """Snapshot rows (file count, size) for recovered runs, from their manifests."""
    blobs = BlobStore(paths.blobs)
    for snapshot_id in sorted({row["snapshot"] for row in rows if row.get("snapshot")}):
        if queries.snapshot_size(ledger.conn, snapshot_id) is not None:
            continue
        try:
            entries = manifest(snapshot_id, blobs)
        except (StoreError, ValueError):
            continue                          # its manifest is gone too: nothing to count
        root = next((row["project"] for row in rows if row.get("snapshot") == snapshot_id), "")
        stored = sum(size for _name, entry_type, size, _ref in entries if entry_type != "l")
        ledger.add_snapshot(snapshot_id, root, len(entries), stored)


def _read_metrics(ledger: Ledger, paths: StorePaths, row: dict) -> None:
    """Read an ended run's metrics again from its log and metrics file, with the rules it
    was launched with."""
    run_dir = paths.run_dir(row["id"])
    rules = MetricRules.from_options(json.loads(row.get("options") or "{}"))
    ingestor = Ingestor(run_dir / "output.log", run_dir / "metrics.jsonl", rules, IngestState())
    latest: dict = {}
    while True:
        batch = ingestor.poll(final=True)
        if batch.rows:
            latest = latest_values(latest, batch.rows)
            ledger.add_metrics(row["id"], batch.rows, latest, batch.state)
        if not batch.more:
            return


def describe(report: dict) -> str:
    lines = []
    if report["damaged"]:
        lines.append(f"the damaged database was moved aside: {report['damaged']}")
    if report["started_from"]:
        lines.append(f"started from the copy the engine saved: {report['started_from']}")
    ids = report["recovered"]
    if ids:
        states = ", ".join(f"{n} {s}" for s, n in sorted(report["states"].items()))
        lines.append(f"rebuilt {len(ids)} run{'s' if len(ids) != 1 else ''} from their "
                     f"folders ({states}): {', '.join(map(str, ids))}")
        if report["states"].get("running"):
            lines.append("runs still running are reattached when the engine starts")
    else:
        lines.append("every run folder is known to the database: nothing to rebuild")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.engine.repair",
                                     description="Rebuild lost run records from run folders.")
    parser.add_argument("--home", help="the store (default: $RUNYARD_HOME)")
    parser.add_argument("--json", action="store_true", help="print what was done as JSON")
    args = parser.parse_args(argv)
    os.umask(0o077)
    paths = StorePaths(Path(args.home).absolute()) if args.home else StorePaths.from_env()
    try:
        report = repair(paths)
    except RunyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.code)
    if args.json:
        print(json.dumps({"schema": 1, "repair": report}))
    else:
        print(describe(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
