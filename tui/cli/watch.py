"""`tui watch list` and `tui watch stop`: the watches made with `tui launch --watch`."""

from __future__ import annotations

import shlex

from core.client import EngineClient
from core.errors import ExitCode, UsageError
from core.paths import StorePaths
from core.requests import UnwatchRequest, WatchesRequest
from tui import formatting
from tui.cli.output import emit, say


def run(args, paths: StorePaths) -> int:
    client = EngineClient(paths)
    if args.watch_command == "list":
        watches = client.request(WatchesRequest())["watches"]
        if args.json:
            emit({"watches": watches})
        elif not watches:
            say("no watches (make one with: tui launch --watch PATH -- COMMAND)")
        else:
            print(_table(watches))
        return ExitCode.OK
    try:
        ids = [int(text) for text in args.ids]
    except ValueError:
        raise UsageError("watch ids are numbers", hint="list them: tui watch list") from None
    watches = client.request(UnwatchRequest(ids=ids))["watches"]
    if args.json:
        emit({"watches": watches})
    for watch in watches:
        say(f"watch {watch['id']} stopped ({', '.join(watch['paths'])})")
    return ExitCode.OK


def _table(watches: list[dict]) -> str:
    rows = [[str(w["id"]), w["state"] + (" (change pending)" if w["pending"] else ""),
             ", ".join(w["paths"]), str(w["triggers"]),
             str(w["last_run"]) if w["last_run"] is not None else "-",
             " ".join(shlex.quote(a) for a in w["command"]),
             w["last_error"] or ""] for w in watches]
    return formatting.table(["ID", "STATE", "PATHS", "RUNS", "LAST", "COMMAND", "PROBLEM"], rows,
                            right={0, 3, 4})
