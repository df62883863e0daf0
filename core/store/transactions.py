"""How each of the ledger's writes runs: one BEGIN IMMEDIATE ... COMMIT, with a held lock or
a full disk turned into a StoreError that changed nothing.

The lock is waited for at most WRITE_WAIT seconds, so the engine's loop is never held long;
after that, writes fail at once (StoreBusy) until the next try, BUSY_BACKOFF_MIN seconds
later, doubling up to BUSY_BACKOFF_MAX. Each episode (busy, full) is logged when it starts,
every minute while it lasts, and when it ends.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

from core.errors import StoreBusy, StoreError
from core.store import db

if TYPE_CHECKING:
    from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")

WRITE_WAIT = 1.0            # seconds a write waits for another program's lock
BUSY_BACKOFF_MIN = 0.5
BUSY_BACKOFF_MAX = 10.0
_LOG_EVERY = 60.0


class Trouble:
    """The current episode of failing writes (busy or full): when it began, what it is, and
    when a busy store is tried again."""

    def __init__(self):
        self.kind: str | None = None
        self.message: str | None = None
        self.since = 0.0
        self.logged = 0.0
        self.retry_at = 0.0
        self.backoff = 0.0

    def busy_error(self, path) -> StoreBusy:
        held = max(time.monotonic() - self.since, WRITE_WAIT)
        return StoreBusy(f"the store is busy: another program has held the write lock on {path} "
                         f"for at least {held:.0f} s (a sqlite3 shell, a backup tool?); nothing "
                         "was changed",
                         hint="end that program's transaction; the engine keeps retrying its "
                              "own writes and records everything once the store is free")

    def failed(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if self.kind != kind:
            self.kind, self.since, self.logged = kind, now, now
            log.warning("store writes fail: %s; retrying", message)
        elif now - self.logged >= _LOG_EVERY:
            self.logged = now
            log.warning("store writes still fail after %.0f s: %s", now - self.since, message)
        self.message = message
        if kind == "busy":
            self.backoff = min(max(self.backoff * 2, BUSY_BACKOFF_MIN), BUSY_BACKOFF_MAX)
            self.retry_at = now + self.backoff

    def succeeded(self) -> None:
        if self.kind is not None:
            log.info("store writes work again after %.0f s (%s)", time.monotonic() - self.since,
                     self.kind)
        self.kind = self.message = None
        self.backoff = 0.0


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, turning a full disk or a held lock into a StoreError."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.conn = ledger.conn

    def __enter__(self):
        trouble = self.ledger.trouble
        if trouble.kind == "busy" and time.monotonic() < trouble.retry_at:
            raise trouble.busy_error(self.ledger.path)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise db.database_error(self.ledger.path, exc) from None
            trouble.failed("busy", f"another program holds the write lock on {self.ledger.path}")
            raise trouble.busy_error(self.ledger.path) from None
        return self.conn

    def __exit__(self, kind, exc, tb):
        if exc is None:
            try:
                self.conn.execute("COMMIT")
                self.ledger.trouble.succeeded()
                return False
            except sqlite3.Error as commit_exc:
                exc = commit_exc
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            self.ledger.trouble.failed("full", "the store's disk is full")
            raise StoreError("the store's disk is full; nothing was changed",
                             hint="free some space, or move the store with RUNYARD_HOME") from exc
        if isinstance(exc, sqlite3.Error) and kind is None:
            raise StoreError(f"database error: {exc}") from exc
        return False


class PointsTransaction(Transaction):
    """`Transaction` with foreign keys off for its span, after checking the run exists."""

    def __init__(self, ledger: Ledger, run_id: int):
        super().__init__(ledger)
        self.run_id = run_id

    def __enter__(self):
        self.conn.execute("PRAGMA foreign_keys = OFF")     # only outside a transaction
        try:
            super().__enter__()
            if self.conn.execute("SELECT 1 FROM runs WHERE id = ?",
                                 (self.run_id,)).fetchone() is None:
                raise StoreError(f"run {self.run_id} is not in the store")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute("PRAGMA foreign_keys = ON")
            raise
        return self.conn

    def __exit__(self, kind, exc, tb):
        try:
            return super().__exit__(kind, exc, tb)
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")
