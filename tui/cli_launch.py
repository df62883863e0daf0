"""`tui launch` and `tui clone`: the hot path, so its imports stay few (see tests/bench)."""

from __future__ import annotations

import os
import sys

from core.client import EngineClient
from core.errors import ExitCode, UsageError
from core.paths import StorePaths
from tui.output import emit, say


def run(args, paths: StorePaths) -> int:
    return launch(args, paths) if args.command == "launch" else clone(args, paths)


def _request_fields(args) -> dict:
    return {"name": args.name, "target": args.target, "gpus": args.gpus, "set": args.set,
            "env_vars": args.env_vars, "tags": args.tags}


def _report_new(reply: dict, as_json: bool) -> int:
    for warning in reply.get("warnings", []):
        say(f"warning: {warning}")
    run = reply["run"]
    if as_json:
        emit({"run": run, "warnings": reply.get("warnings", [])})
    else:
        # One write, so ids from parallel launches on one pipe never interleave, even
        # with PYTHONUNBUFFERED set (print would write the newline separately).
        sys.stdout.write(f"{run['id']}\n")
        if sys.stderr.isatty():
            say(f"run {run['id']} ({run['name']}) queued on {run['target']}")
    return ExitCode.OK


def launch(args, paths: StorePaths) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("nothing to launch: give a command after --",
                         hint="for example: tui launch -- python train.py --lr 0.01")
    request = {"cwd": os.getcwd(), "env": dict(os.environ), "argv": argv, **_request_fields(args)}
    reply = EngineClient(paths).request({"op": "launch", "launch": request})
    return _report_new(reply, args.json)


def clone(args, paths: StorePaths) -> int:
    from core import runs as run_queries
    from tui.cli_runs import need_reader
    conn = need_reader(paths)
    parent = run_queries.resolve_id(conn, args.id)
    request = {"parent": parent, "cwd": os.getcwd(), "env": dict(os.environ), "code": args.code,
               **_request_fields(args)}
    reply = EngineClient(paths).request({"op": "clone", "clone": request})
    return _report_new(reply, args.json)
