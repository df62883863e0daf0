"""Noticing the store's database file deleted, replaced or emptied under a running engine.

The engine keeps its database open, so after `rm runyard.db` it would go on writing into a
file nobody else can see, while `tui status` finds no store and new runs reuse old ids.
The guard compares the file at the store's path with the one the engine opened (device,
inode, size) before every request and every second. When they differ, the engine saves
what it holds (`runyard.db.saved-<time>`, with SQLite's backup API), refuses requests, and
stops; runs keep running. The next engine refuses to start until `tui engine repair`
rebuilds the database (from that copy and the run folders).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time

from core.errors import StoreError
from core.paths import StorePaths
from core.store.integrity import REPAIR, SAVED_PREFIX

log = logging.getLogger("runyard.engine")

CHECK_INTERVAL = 1.0


class DatabaseGuard:
    def __init__(self, paths: StorePaths, conn: sqlite3.Connection):
        self.paths = paths
        self.conn = conn
        info = os.stat(paths.db)
        self.identity = (info.st_dev, info.st_ino)
        self.lost: StoreError | None = None      # set once: the engine then stops

    def problem(self) -> str | None:
        """What happened to the database file, or None while it is the one we hold."""
        try:
            info = os.stat(self.paths.db)
        except FileNotFoundError:
            return "was deleted"
        except OSError as exc:
            return f"cannot be looked at ({exc.strerror or exc})"
        if (info.st_dev, info.st_ino) != self.identity:
            return "was replaced by another file"
        if info.st_size == 0:
            return "was emptied"
        return None

    def check(self) -> StoreError | None:
        """The error every request gets from now on, once the file is gone (saved once)."""
        if self.lost is not None:
            return self.lost
        what = self.problem()
        if what is None:
            return None
        saved = self._save_copy()
        kept = f"; what the engine held is saved as {saved}" if saved else ""
        log.error("the store's database %s %s while the engine ran%s; the engine stops "
                  "(runs keep running)", self.paths.db, what, kept)
        self.lost = StoreError(f"the store's database {self.paths.db} {what} while the engine "
                               f"ran; the engine stopped (runs keep running){kept}",
                               hint=f"rebuild it: {REPAIR}")
        return self.lost

    def _save_copy(self) -> str | None:
        """Write what this engine's connection still sees into a new file beside it."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.paths.home / f"{SAVED_PREFIX}{stamp}-{os.getpid()}"
        try:
            target = sqlite3.connect(path)
            try:
                self.conn.backup(target)
            finally:
                target.close()
        except (sqlite3.Error, OSError) as exc:
            log.error("cannot save the engine's copy of the database: %s", exc)
            path.unlink(missing_ok=True)
            return None
        return path.name
