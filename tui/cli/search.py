"""`tui search list|stop|extend`: the adaptive searches made with `tui launch --search`."""

from __future__ import annotations

import sys

from core.client import EngineClient
from core.errors import ExitCode, UnknownRun
from core.paths import StorePaths
from core.requests import SearchExtendRequest, SearchStopRequest
from core.store import queries as run_queries
from core.textsafe import inline
from tui import formatting
from tui import search_text
from tui.cli.output import emit, say
from tui.cli.runs import reader


def run(args, paths: StorePaths) -> int:
    conn = reader(paths)
    searches = [g for g in run_queries.groups_json(conn) if g["kind"] == "search"] \
        if conn is not None else []
    if args.search_command == "list":
        if args.json:
            emit({"searches": searches})
        elif not searches:
            say("no searches (launch one with: tui launch --search tpe --objective METRIC "
                "--trials N --sweep KEY=SPEC -- COMMAND)")
        else:
            print(_table(searches))
        return ExitCode.OK
    group = find(searches, args.group)
    client = EngineClient(paths)
    if args.search_command == "stop":
        reply = client.request(SearchStopRequest(group=group["id"], cancel=args.cancel))
        after = reply["groups"][-1]
        if args.json:
            emit({"searches": reply["groups"]})
        say(f"search {after['id']} {after['search']['state']}: no more trials"
            + ("; its running trials are being cancelled" if args.cancel else
               f"; {after['search']['running']} in flight finish and count"
               if after["search"]["running"] else ""))
        return ExitCode.OK
    reply = client.request(SearchExtendRequest(group=group["id"], trials=args.trials))
    after = reply["groups"][-1]
    if args.json:
        emit({"runs": reply["runs"], "searches": reply["groups"]})
    else:
        sys.stdout.write("".join(f"{r['id']}\n" for r in reply["runs"]))
    say(f"search {after['id']}: budget now {after['search']['budget']} trials "
        f"({after['search']['done']} done), {after['search']['state']}")
    return ExitCode.OK


def find(searches: list[dict], text: str) -> dict:
    """A search by group id, or by name (the newest of that name)."""
    found = [g for g in searches if str(g["id"]) == text.strip()] or \
        [g for g in searches if g["name"] == text][-1:]
    if not found:
        known = ", ".join(f"{g['id']} ({g['name']})" for g in searches[-10:])
        raise UnknownRun(f"no search {text!r}",
                         hint=f"searches: {inline(known)}" if known else
                         "launch one with: tui launch --search tpe ...")
    return found[0]


def _table(searches: list[dict]) -> str:
    rows = []
    for group in searches:
        progress = group["search"]
        best = progress["best"]
        rows.append([str(group["id"]), inline(group["name"]), progress["state"],
                     search_text.counts(progress),
                     f"{group['spec']['objective']['metric']}={formatting.number(best['value'])}"
                     if best else "-", str(best["run"]) if best else "-",
                     f"{group['spec']['sampler']}" + (f"+{group['spec']['pruner']}"
                                                      if group["spec"]["pruner"] else "")])
    return formatting.table(["ID", "NAME", "STATE", "TRIALS", "BEST", "RUN", "HOW"], rows,
                            right={0, 5})
