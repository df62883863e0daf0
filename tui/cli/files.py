"""`tui files` and `tui pull`: what a run wrote, wherever it ran, and a copy of it here.

Both ask the engine (it owns the connections to boxes, Docker engines and clusters). File
names come from the run, so what reaches a terminal is made safe (core.textsafe); JSON
carries them as they are.
"""

from __future__ import annotations

import os
import sys

from core.client import EngineClient
from core.errors import ExitCode
from core.paths import StorePaths
from core.requests import FilesRequest, PullRequest
from core.store import queries as run_queries
from core.textsafe import clean_line
from tui import formatting
from tui.cli.output import emit, say
from tui.cli.runs import need_reader

MARKS = {"new": "+", "changed": "~", "unchanged": " ", "deleted": "-"}


def run(args, paths: StorePaths) -> int:
    return files(args, paths) if args.command == "files" else pull(args, paths)


def _run_id(args, paths: StorePaths) -> int:
    return run_queries.resolve_id(need_reader(paths), args.id)


def _shown(path: str) -> str:
    return clean_line(path, keep_sgr=False)


def files(args, paths: StorePaths) -> int:
    run_id = _run_id(args, paths)
    reply = EngineClient(paths).request(FilesRequest(id=run_id, all=args.all))
    if reply["stale"]:
        say(f"warning: {_shown(reply['stale'])}")
        say(f"these are run {run_id}'s files as last seen, at {reply['listed_at']}")
    if args.json:
        emit({key: reply[key] for key in ("run", "target", "state", "listed_at", "stale",
                                           "unlisted", "checkpoints", "files")})
        return ExitCode.OK
    shown = reply["files"]
    if shown:
        rows = [[f"{MARKS[f['status']]} {f['status']}",
                 formatting.size(f["size"]) if f["status"] != "deleted" else "-",
                 (f["mtime"] or "-")[:19].replace("T", " "),
                 _shown(f["path"]) + ("  (checkpoint)" if f["checkpoint"] else "")]
                for f in shown]
        print(formatting.table(["STATUS", "SIZE", "MODIFIED", "PATH"], rows, right={1}))
    say(_summary(run_id, reply, args.all))
    return ExitCode.OK


def _summary(run_id: int, reply: dict, everything: bool) -> str:
    counts: dict[str, int] = {}
    written = 0
    for f in reply["files"]:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
        if f["status"] in ("new", "changed"):
            written += f["size"]
    parts = [f"{counts[s]} {s}" for s in ("new", "changed", "deleted", "unchanged")
             if counts.get(s)]
    text = (f"run {run_id} on {reply['target']}: " + (", ".join(parts) or "no file written")
            + (f" ({formatting.size(written)} written)" if written else ""))
    if reply["unlisted"]:
        text += (f"; {reply['unlisted']} file(s) not listed (a newline in the name, or a name "
                 "that is not UTF-8)")
    if not everything:
        text += f"; unchanged code files: tui files {run_id} --all"
    return text


def pull(args, paths: StorePaths) -> int:
    run_id = _run_id(args, paths)
    to = os.path.abspath(args.to) if args.to else None
    reply = EngineClient(paths).request(PullRequest(id=run_id, paths=list(args.paths), to=to,
                                                    all=args.all))
    if args.json:
        emit({key: reply[key] for key in ("run", "to", "content_bytes", "counts", "files",
                                           "problems")})
    else:
        sys.stdout.write("".join(_shown(os.path.join(reply["to"], f["path"])) + "\n"
                                 for f in reply["files"]))
    counts = reply["counts"]
    total = sum(f["size"] for f in reply["files"])
    words = [f"{counts[k]} {k}" for k in ("fetched", "copied", "unchanged") if counts.get(k)]
    say(f"run {run_id}: {len(reply['files'])} file(s), {formatting.size(total)}, in "
        f"{_shown(reply['to'])}" + (f": {', '.join(words)}" if words else "")
        + f"; {formatting.size(reply['content_bytes'])} sent")
    for problem in reply["problems"]:
        say(f"warning: {_shown(problem)}")
    return ExitCode.RUN_FAILED if reply["problems"] else ExitCode.OK
