"""`tui launch` and `tui clone`: the hot path, so its imports stay few (see tests/bench).

A sweep, a workflow file or a watch is still one request: the engine expands it.
"""

from __future__ import annotations

import os
import sys

from core.client import EngineClient
from core.errors import ExitCode, UsageError
from core.protocol import expand_ranges
from core.requests import (CloneRequest, LaunchRequest, PlanRequest, RunPolicy, SearchOptions,
                           here)
from tui.cli.output import emit, say

TYPE_CHECKING = False           # only a type: a launch skips core.paths (core.client says why)
if TYPE_CHECKING:
    from core.paths import StorePaths


def run(args, home: str) -> int:
    """`home`: the store's folder (core.storehome.home_folder)."""
    return launch(args, home) if args.command == "launch" else clone(args, home)


def _after(values: list[str]) -> list:
    out: list = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            out.append(int(part) if part.isdigit() else part)
    return out


# The workflow options and their values when the parser did not build them (tui.cli.parser).
_WORKFLOW_DEFAULTS: dict[str, object] = {"sweep": [], "samples": None, "seed": None, "after": [], "retries": None,
                      "retry_on": None, "retry_delay": None, "stop_if": [], "checkpoints": None,
                      "outputs": [], "force": False, "dry_run": False, "file": None, "watch": [],
                      "debounce": None, "resume": False, "search": None, "objective": None,
                      "trials": None, "parallel": None, "prune": None}
_SEARCH_OPTIONS = ("objective", "trials", "parallel", "prune")


def _request_fields(args) -> dict:
    """The fields launch and clone requests share, from the command line."""
    for name, default in _WORKFLOW_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    policy = RunPolicy(after=_after(args.after), retries=args.retries, retry_on=args.retry_on,
                       retry_delay=args.retry_delay, stop_if=args.stop_if,
                       checkpoints=args.checkpoints, outputs=args.outputs)
    # The request id: os.urandom, not `secrets` (~4 ms to import on the launch hot path).
    return {**here(), "name": args.name,
            "target": args.target, "gpus": args.gpus, "set": args.set,
            "env_vars": args.env_vars, "sweep": args.sweep, "samples": args.samples,
            "seed": args.seed, "policy": policy, "force": args.force,
            "full": getattr(args, "full", False), "request_id": os.urandom(16).hex()}


def _report_new(reply: dict, as_json: bool) -> int:
    for warning in reply.get("warnings", []):
        say(f"warning: {warning}")
    if reply.get("again"):
        say("the engine stopped during this launch and was started again; the runs it had "
            "recorded go on")
    if as_json:
        emit({key: reply[key] for key in ("run", "runs", "ids", "count", "cached", "groups",
                                          "warnings", "watch") if key in reply})
        return ExitCode.OK
    first = reply["run"]
    if "ids" in reply:                       # a big launch: ids as ranges (COMPACT_RUNS)
        ids = expand_ranges(reply["ids"])
    else:
        ids = [run["id"] for run in reply.get("runs") or [first]]
    cached = set(reply.get("cached", []))
    # One write, so ids from parallel launches on one pipe never interleave, even with
    # PYTHONUNBUFFERED set (print would write the newline separately).
    sys.stdout.write("".join(f"{run_id}\n" for run_id in ids))
    for run_id in sorted(cached):
        say(f"run {run_id} already succeeded with this exact spec: nothing started "
            "(--force runs it again)")
    new = [run_id for run_id in ids if run_id not in cached]
    for group in reply.get("groups", []):
        if group["kind"] == "search" and "search" in group:
            say(f"search {group['id']} ({group['spec']['sampler']}, "
                f"{group['search']['budget']} trials): follow it with tui status --group "
                f"{group['id']}; stop it with tui search stop {group['id']}")
    if sys.stderr.isatty() and new:
        if len(new) == 1 and first["id"] == new[0]:
            say(f"run {first['id']} ({first['name']}) queued on {first['target']}")
        elif len(new) > 1:
            say(f"{len(new)} runs queued: {new[0]} to {new[-1]}"
                + (f" (group {first['group']})" if first.get("group") else ""))
    if "watch" in reply:
        watch = reply["watch"]
        say(f"watching {', '.join(watch['paths'])} (watch {watch['id']}); "
            f"stop with: tui watch stop {watch['id']}")
    return ExitCode.OK


def _send(store: StorePaths | str, request: LaunchRequest | CloneRequest, args) -> int:
    client = EngineClient(store)
    if args.dry_run:
        from tui.cli.plan import show_plan         # lazy: ~2 ms a plain launch skips
        asked = {"launch": request} if isinstance(request, LaunchRequest) else {"clone": request}
        reply = client.request(PlanRequest(**asked))
        return show_plan(reply["plan"], args.json)
    reply = client.request(request)
    return _report_new(reply, args.json)


def launch(args, home: str) -> int:
    fields = _request_fields(args)
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv and not args.file:
        raise UsageError("nothing to launch: give a command after --",
                         hint="for example: tui launch -- python3 train.py --lr 0.01")
    if args.debounce is not None and not args.watch:
        raise UsageError("--debounce goes with --watch PATH")
    search = None
    if args.search is not None or any(getattr(args, n) is not None for n in _SEARCH_OPTIONS):
        search = SearchOptions(sampler=args.search,
                               **{name: getattr(args, name) for name in _SEARCH_OPTIONS})
    request = LaunchRequest(argv=argv, tags=args.tags, **fields,
                            file=os.path.abspath(args.file) if args.file else None,
                            watch=args.watch, debounce=args.debounce, search=search)
    return _send(home, request, args)


def clone(args, home: str) -> int:
    # lazy: sqlite3 and the store's reads (~5.5 ms) that `tui launch` skips
    from core.paths import StorePaths
    from core.store import queries as run_queries
    from tui.cli.runs import need_reader  # lazy, as above
    paths = StorePaths(home)
    conn = need_reader(paths)
    parent = run_queries.resolve_id(conn, args.id)
    fields = _request_fields(args)                 # also fills in the workflow defaults
    request = CloneRequest(parent=parent, code=args.code, resume=args.resume,
                           tags=args.tags or None, **fields)      # no --tag: the parent's
    return _send(paths, request, args)
