"""The one root error of runyard and the exit codes the CLI maps errors to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `tui` command, documented in the README."""

    OK = 0
    RUN_FAILED = 1        # `tui wait`: a run did not succeed (one id: its own exit code)
    USAGE = 2             # bad flag or value
    NOT_FOUND = 3         # unknown run id or target
    CONFIG = 4            # malformed configuration file
    ENGINE = 5            # the engine could not be started or reached
    STORE = 6             # the store cannot be written (disk full, permissions)
    TIMEOUT = 124         # `tui wait --timeout` ran out
    INTERRUPTED = 130     # Ctrl-C


class RunyardError(Exception):
    """An error with a short title, a message and an optional hint for the user.

    Every error that reaches a user is one of these; its `code` says how the CLI exits.
    """

    code = ExitCode.USAGE
    title = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "title": self.title, "message": self.message,
                "hint": self.hint, "code": int(self.code)}

    @classmethod
    def from_dict(cls, data: dict) -> "RunyardError":
        kind = _KINDS.get(data.get("type", ""), RunyardError)
        err = kind(data.get("message", "unknown error"), hint=data.get("hint"))
        err.code = ExitCode(data.get("code", int(kind.code)))
        return err


class UsageError(RunyardError):
    title = "invalid usage"


class UnknownRun(RunyardError):
    code = ExitCode.NOT_FOUND
    title = "unknown run"


class UnknownTarget(RunyardError):
    code = ExitCode.NOT_FOUND
    title = "unknown target"


class ConfigError(RunyardError):
    code = ExitCode.CONFIG
    title = "configuration error"


class EngineError(RunyardError):
    code = ExitCode.ENGINE
    title = "engine unavailable"


class StoreError(RunyardError):
    code = ExitCode.STORE
    title = "store error"


class StoreBusy(StoreError):
    """Another program holds the database's write lock (a sqlite3 shell, a backup tool)."""

    title = "store busy"


class SnapshotError(RunyardError):
    code = ExitCode.STORE
    title = "snapshot failed"


class ExecutorError(RunyardError):
    """A target could not do what was asked (start, attach, cancel).

    `target`: the target's name (a box's label until the executor that met it names its
    target). `transient`: waiting may fix it (a box, daemon or controller that does not
    answer now); a start that raises a transient error puts the run back in the queue
    instead of failing it, and a launch to such a target is queued with a warning.
    """

    code = ExitCode.ENGINE
    title = "target error"

    def __init__(self, message: str, *, target: str = "", transient: bool = False,
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.target = target
        self.transient = transient


_KINDS = {k.__name__: k for k in (RunyardError, UsageError, UnknownRun, UnknownTarget,
                                  ConfigError, EngineError, StoreError, StoreBusy,
                                  SnapshotError,
                                  ExecutorError)}
