"""Typed requests to the engine, one class per op: the CLI and the app build them, the engine reads them.

A request travels as one JSON line (core.protocol): `{"op": NAME, ...its fields}`. Reading
one back (`parse`) refuses an unknown op, and each request, a core.records.Record, refuses
an unknown or misspelled field, a missing field and a value of the wrong type, naming it.
The run policy (dependencies, retries, stop rules, checkpoints) travels inside a launch or
clone as one value, `RunPolicy`, all the way to the stored run spec.
"""

from __future__ import annotations

import os

from core.errors import UsageError
from core.records import Record, shown

TYPE_CHECKING = False               # typing itself costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import Any, ClassVar

DEFAULT_RETRY_DELAY = 5.0           # seconds before a run's second attempt; doubles each time


# ---------------------------------------------------------------- the run policy

class RunPolicy(Record):
    """What the engine does around a run: what it waits for, retries, stop rules and
    checkpoints. One value from the request (None: not given, so the workflow file's,
    the parent's or the default applies) through the workflow step to the run spec and
    the store, where `after` holds run ids and every default is filled in."""

    TITLE = "run policy"

    after: list[int | str] = []         # runs that must succeed first (ids, or "last")
    retries: int | None = None          # attempts after the first, on failure
    retry_on: str | None = None         # retry only when the output matches this regex
    retry_delay: float | None = None    # seconds before attempt 2; doubles each time
    stop_if: list[str] = []             # stop rules on metrics
    checkpoints: str | None = None      # folder (relative to the workdir) of checkpoints
    outputs: list[str] = []             # globs (relative to the workdir) pulled when it ends


STORED_DEFAULT_POLICY = RunPolicy(retries=0, retry_delay=DEFAULT_RETRY_DELAY)


class SearchOptions(Record):
    """`--search SAMPLER` and its options: an adaptive search over the `--sweep` axes
    (core.spec.search). None of a field: not given (the workflow step's, or the default)."""

    TITLE = "search"

    sampler: str | None = None          # tpe, random, cmaes, gp
    objective: str | None = None        # METRIC[:min|max][:last|best|meanN]
    trials: int | None = None           # the budget: completed and pruned trials
    parallel: int | None = None         # trials in flight at once
    prune: str | None = None            # median, asha, hyperband


# ---------------------------------------------------------------- requests

class Request(Record):
    """One engine op's request; `message()` is what goes on the wire."""

    OP: ClassVar[str] = ""

    def message(self) -> dict:
        return {"op": self.OP, **self.to_dict()}

    def resend_id(self) -> str | None:
        """An id under which the engine records what this request did, so the client may
        send it again after losing the engine mid-request (killed) and learn the truth,
        never doing it twice; None: not safe to send again."""
        return None


class LaunchRequest(Request):
    """`tui launch`: a command, a sweep or a workflow file. `env` is the launching shell's."""

    OP = "launch"
    TITLE = "launch request"

    cwd: str
    env: dict[str, str]
    argv: list[str]
    name: str | None = None
    target: str | None = None
    gpus: int | None = None
    set: list[str] = []                 # KEY=VALUE params
    env_vars: list[str] = []            # K=V variables for the run
    tags: list[str] = []
    priority: int = 0
    sweep: list[str] = []               # KEY=SPEC axes
    samples: int | None = None
    seed: int | None = None
    file: str | None = None             # a workflow file (a sweep or a chain)
    policy: RunPolicy = RunPolicy()
    force: bool = False                 # run even when cached
    watch: list[str] = []               # relaunch when these change
    debounce: float | None = None
    search: SearchOptions | None = None     # an adaptive search over the sweep axes
    request_id: str | None = None       # see Request.resend_id
    full: bool = False                  # every run's JSON, however many (protocol.COMPACT_RUNS)

    def resend_id(self) -> str | None:
        return None if self.watch else self.request_id


class CloneRequest(Request):
    """`tui clone` (and the app's clone, edit-spec and rerun): a parent run with changes."""

    OP = "clone"
    TITLE = "clone request"

    parent: int
    cwd: str
    env: dict[str, str]
    code: str = "parent"                # "parent": the parent's snapshot; "current": the tree now
    name: str | None = None
    target: str | None = None
    gpus: int | None = None
    set: list[str] = []
    env_vars: list[str] = []
    unset_env: list[str] = []           # the parent's variables to drop
    tags: list[str] | None = None       # None: the parent's tags; a list (even empty): these
    sweep: list[str] = []
    samples: int | None = None
    seed: int | None = None
    policy: RunPolicy = RunPolicy()
    force: bool = False
    resume: bool = False                # hand the parent's newest checkpoint to the new run
    template: list[str] | None = None   # a new command (an edited spec); None: the parent's
    request_id: str | None = None       # see Request.resend_id
    full: bool = False                  # as LaunchRequest.full

    def resend_id(self) -> str | None:
        return self.request_id


class PlanRequest(Request):
    """`--dry-run`: what this launch or clone would do now; nothing is recorded."""

    OP = "plan"
    TITLE = "plan request"

    launch: LaunchRequest | None = None
    clone: CloneRequest | None = None

    def check(self) -> None:
        if (self.launch is None) == (self.clone is None):
            raise UsageError(f"{self.TITLE}: give launch or clone (one of them)",
                             hint="a plan previews one launch or one clone")

    @property
    def asked(self) -> LaunchRequest | CloneRequest:
        return self.launch if self.launch is not None else self.clone   # type: ignore[return-value]


class FilesRequest(Request):
    """`tui files`: what a run wrote, compared with its snapshot."""

    OP = "files"
    TITLE = "files request"
    id: int
    all: bool = False                   # unchanged files of the snapshot too
    hashes: bool = False                # every file's sha256 (hashed where it is)


class PullRequest(Request):
    """`tui pull`: copy a run's files here (default: what it wrote, into runs/<id>/out)."""

    OP = "pull"
    TITLE = "pull request"
    id: int
    paths: list[str] = []               # globs or paths; none: every file the run wrote
    to: str | None = None               # an absolute folder
    all: bool = False                   # with no paths: unchanged files too


class CancelRequest(Request):
    OP = "cancel"
    TITLE = "cancel request"
    ids: list[int]


class RemoveRequest(Request):
    OP = "remove"
    TITLE = "remove request"
    ids: list[int]


class ReparseRequest(Request):
    """Read ended runs' output anew with the `[metrics]` rules of their projects now; `env`
    is the asking shell's environment (the config files it names)."""

    OP = "reparse"
    TITLE = "reparse request"
    ids: list[int]
    env: dict[str, str] = {}


class WaitRequest(Request):
    """Wait until the runs end; with `stream`, an event line as each one ends."""

    OP = "wait"
    TITLE = "wait request"
    ids: list[int]
    stream: bool = False


class TargetsRequest(Request):
    """The targets and their health; with `cwd`, the project's config there is read first."""

    OP = "targets"
    TITLE = "targets request"
    cwd: str | None = None
    env: dict[str, str] = {}


class UnwatchRequest(Request):
    OP = "unwatch"
    TITLE = "unwatch request"
    ids: list[int]


class WatchesRequest(Request):
    OP = "watches"
    TITLE = "watches request"


class SearchStopRequest(Request):
    """`tui search stop G`: ask no more trials; queued ones are cancelled, and with
    `cancel` the running ones too (else they finish and count)."""

    OP = "search_stop"
    TITLE = "search_stop request"
    group: int
    cancel: bool = False


class SearchExtendRequest(Request):
    """`tui search extend G --trials N`: N more trials; an ended search goes on."""

    OP = "search_extend"
    TITLE = "search_extend request"
    group: int
    trials: int


class StatusRequest(Request):
    OP = "status"
    TITLE = "status request"


class PingRequest(Request):
    OP = "ping"
    TITLE = "ping request"


class StopRequest(Request):
    OP = "stop"
    TITLE = "stop request"


REQUESTS: dict[str, type[Request]] = {cls.OP: cls for cls in (
    LaunchRequest, CloneRequest, PlanRequest, CancelRequest, RemoveRequest, ReparseRequest,
    WaitRequest, SearchStopRequest, SearchExtendRequest,
    TargetsRequest, UnwatchRequest, WatchesRequest, StatusRequest, PingRequest, StopRequest,
    FilesRequest, PullRequest)}


def here() -> dict[str, Any]:
    """The `cwd` and `env` of a launch or clone asked for by this process: the folder and
    the environment of the shell (or app) the user asks from."""
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise UsageError("the current folder no longer exists (it was deleted or moved)",
                         hint="cd into an existing folder (cd \"$PWD\" enters it again if it "
                              "was made anew) and launch from there") from None
    return {"cwd": cwd, "env": dict(os.environ)}


def parse(message: Any) -> Request:
    """The typed request a wire message holds; UsageError for anything else."""
    if not isinstance(message, dict):
        raise UsageError("a request must be a JSON object", hint='for example {"op": "ping"}')
    op = message.get("op")
    cls = REQUESTS.get(op) if isinstance(op, str) else None
    if cls is None:
        raise UsageError(f"unknown request {shown(op)}",
                         hint="known requests: " + ", ".join(sorted(REQUESTS)))
    return cls.from_dict({k: v for k, v in message.items() if k != "op"})
