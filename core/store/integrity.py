"""Whether a store's database matches its run folders: run ids are never given out twice.

Every run folder (`runs/<id>/`) belongs to a run the database knows, or to one removed
with `tui rm`. A folder the database does not know means the database was lost, replaced
by an older copy or truncated: the engine then refuses to start (a new run would take that
id and write into that folder) until `tui engine repair` rebuilds the missing records.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.errors import StoreError
from core.paths import StorePaths
from core.store import queries

REPAIR = "tui engine repair"
# A copy of its database the engine saves when the file is deleted or replaced under it.
SAVED_PREFIX = "runyard.db.saved-"


def run_folder_ids(paths: StorePaths) -> list[int]:
    """The ids of the run folders in the store, in order."""
    try:
        names = os.listdir(paths.runs)
    except FileNotFoundError:
        return []
    return sorted(int(name) for name in names if name.isdigit() and name == str(int(name)))


def saved_copies(paths: StorePaths) -> list[Path]:
    """Copies of the database an engine saved when it lost the file, newest last."""
    try:
        names = os.listdir(paths.home)
    except FileNotFoundError:
        return []
    return [paths.home / n for n in sorted(names)
            if n.startswith(SAVED_PREFIX) and not n.endswith(".used")]


def unknown_folders(conn: sqlite3.Connection, paths: StorePaths) -> list[int]:
    """Run folders whose id the database neither holds nor lists as removed."""
    folders = run_folder_ids(paths)
    if not folders:
        return []
    known = queries.known_run_ids(conn)
    return [run_id for run_id in folders if run_id not in known]


def check_missing_database(paths: StorePaths) -> None:
    """Refuse to make a new, empty database where run folders say runs existed."""
    folders = run_folder_ids(paths)
    if paths.db.exists() or not folders:
        return
    saved = saved_copies(paths)
    also = f"; the engine saved its last copy as {saved[-1].name}" if saved else ""
    raise StoreError(f"the store's database {paths.db} is missing, but {paths.runs} holds "
                     f"{_count(folders)}{also}",
                     hint=f"rebuild it: {REPAIR} (it " + ("starts from that copy and " if saved
                                                         else "") +
                          "reads the run folders; nothing in them is overwritten)")


def check_matches(conn: sqlite3.Connection, paths: StorePaths) -> None:
    """Refuse a database that does not know every run folder."""
    unknown = unknown_folders(conn, paths)
    if unknown:
        raise StoreError(f"the store's database {paths.db} does not know {_count(unknown)} in "
                         f"{paths.runs}: it was lost, replaced by an older copy or truncated, "
                         "and new runs would take those ids",
                         hint=f"rebuild the missing runs from their folders: {REPAIR} "
                              "(nothing in them is overwritten)")


def _count(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")
    return f"{len(ids)} run folder{'s' if len(ids) != 1 else ''} ({shown})"
