"""The run commands of the CLI: status, show, wait, cancel, rm (logs and metrics: their own
modules)."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time

from core.store import db
from core.store import queries as run_queries
from core.store import search_queries
from core.client import EngineClient, EngineSilent, engine_alive
from core.errors import EngineError, ExitCode, UnknownRun
from core.paths import StorePaths
from tui import formatting
from tui import search_text
from tui.formatting import STATE_GLYPHS
from tui.cli.output import SCHEMA, emit, say

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import Any

# `tui status --json` is the scripted hot path: it needs neither core.models nor
# core.requests (~11 ms together, tests/bench/bench_imports.py), so the commands here that
# send requests import them lazily.
TERMINAL = ("succeeded", "failed", "cancelled", "stopped", "lost")


def run(args, paths: StorePaths) -> int:
    handler = {"status": status, "show": show, "wait": wait, "cancel": cancel,
               "rm": remove}[args.command]
    return handler(args, paths)


# ---------------------------------------------------------------- helpers


def need_group(conn: sqlite3.Connection | None, group_id: int) -> None:
    """A group id that names no group is an error, not an empty list of runs."""
    if conn is not None and any(g["id"] == group_id
                                for g in run_queries.groups_json(conn, [group_id])):
        return
    groups = run_queries.groups_json(conn) if conn is not None else []
    known = ", ".join(f"{g['id']} ({g['name']})" for g in groups[-10:])
    raise UnknownRun(f"no group {group_id}", hint=f"groups: {known}" if known else
                     "launch a sweep with: tui launch --sweep lr=0.1,0.01 -- COMMAND")


def reader(paths: StorePaths, *, revive: bool = True) -> sqlite3.Connection | None:
    """A read connection to the store, or None when there is no store yet.

    When runs are active but their engine is gone (killed, machine rebooted), the engine
    is started again so it reattaches to them. A store written by an older runyard is
    migrated first (by the engine, its only writer), so readers see every column.
    """
    try:
        conn = db.connect(paths.db)
    except FileNotFoundError:
        from core.store import integrity     # lazy: only a store that lost its database
        integrity.check_missing_database(paths)      # run folders, but no database: lost
        return None
    db.check_readable(conn)
    if db.schema_version(conn) < len(db.MIGRATIONS):
        EngineClient(paths).start()            # opening the store migrates it
    if revive and not engine_alive(paths) and run_queries.active_count(conn):
        EngineClient(paths).start()
    return conn


def need_reader(paths: StorePaths) -> sqlite3.Connection:
    conn = reader(paths)
    if conn is None:
        raise UnknownRun("there are no runs yet",
                                     hint="start one with: tui launch -- COMMAND")
    return conn


def resolve_ids(conn: sqlite3.Connection, texts: list[str]) -> list[int]:
    return [run_queries.resolve_id(conn, text) for text in texts]


# ---------------------------------------------------------------- listing

def status(args, paths: StorePaths) -> int:
    conn = reader(paths)
    if args.group is not None:
        need_group(conn, args.group)
    if args.format == "tmux":
        print(_tmux_line(conn))
        return ExitCode.OK
    if (args.columns or args.sort or args.best) and conn is not None:
        # lazy: only here; the results table needs core.config and core.models, which the
        # plain `tui status --json` (the scripted hot path, see above) does without.
        from tui.cli import compare as cli_compare
        return cli_compare.status(conn, args)
    if args.json:
        texts = run_queries.runs_json(conn, args.state, args.all, args.group) if conn else []
        groups = run_queries.groups_of_runs(conn, args.state, args.all, args.group) \
            if conn else []
        sys.stdout.write('{"schema": %d, "runs": [%s], "groups": %s}\n'
                         % (SCHEMA, ",".join(texts), json.dumps(groups)))
        return ExitCode.OK
    runs = run_queries.list_runs(conn, args.state, args.all, group=args.group) if conn else []
    if args.group is not None and conn is not None:
        search_line(conn, args.group)
    if not runs:
        say("no runs" + ("" if args.all else " to show (tui status --all lists every run)"))
        return ExitCode.OK
    keys = formatting.varying_params([r.spec.params for r in runs])
    rows: list[list[str]] = []
    for r in runs:
        params = " ".join(f"{k}={r.spec.params[k]}" for k in keys if k in r.spec.params)
        shown = " ".join(f"{k}={formatting.number(v)}" for k, v in list(r.metrics.items())[:3])
        word = _short(r.detail, 36) if r.detail else r.state.value       # Slurm: "job 9 pending (..)"
        state = f"{STATE_GLYPHS[r.state.value]} {word}" + \
            (f" → {r.retried_as}" if r.retried_as is not None else "")   # retried as that run
        rows.append([str(r.id), state, r.name, r.spec.target,
                     ",".join(map(str, r.gpu_ids)) or "-",
                     formatting.duration(formatting.elapsed(r.started_at, r.finished_at)),
                     params, shown])
    print(formatting.table(["ID", "STATE", "NAME", "TARGET", "GPUS", "ELAPSED", "PARAMS",
                            "METRICS"], rows, right={0}))
    return ExitCode.OK


def search_line(conn: sqlite3.Connection, group_id: int) -> None:
    """`tui status --group G` of a search: its progress and best trial, first."""
    from core.textsafe import inline    # lazy: ~2 ms `tui status --json` skips
    for group in run_queries.groups_json(conn, [group_id]):
        if group["id"] == group_id and group["kind"] == "search" and "search" in group:
            print(inline(search_text.line(group)))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _tmux_line(conn: sqlite3.Connection | None) -> str:
    if conn is None:
        return "runyard: no runs"
    counts = run_queries.count_by_state(conn)
    parts = [f"{STATE_GLYPHS[s]}{counts[s]}" for s in
             ("running", "queued", "failed", "lost", "stopped", "succeeded") if counts.get(s)]
    failed = run_queries.last_failure(conn)
    line = " ".join(parts) or "no runs"
    if failed:
        from core.textsafe import inline    # lazy: see say() in tui.cli.output
        line += f" | last failure: #{failed[0]} {inline(failed[1])[:20]}"
    return line


def show(args, paths: StorePaths) -> int:
    conn = need_reader(paths)
    run_id = run_queries.resolve_id(conn, args.id)
    data = run_queries.run_json(conn, run_id)
    events = run_queries.events(conn, run_id)
    snapshot = run_queries.snapshot_size(conn, data["snapshot"])
    diff = run_queries.git_diff_blob(conn, run_id)
    run_dir = paths.run_dir(run_id)
    group = run_queries.groups_json(conn, [data["group"]]) if data["group"] else []
    trial = search_queries.trial_of(conn, run_id)
    extra: dict[str, Any] = {
        "group": next((g for g in group if g["id"] == data["group"]), None),
        "trial": trial,
        "events": events,
        "snapshot_info": {"file_count": snapshot[0],
                          "total_bytes": snapshot[1]} if snapshot else None,
        "git_diff": str(paths.blobs / diff[:2] / diff[2:]) if diff else None,
        "paths": {"run_dir": str(run_dir), "log": str(run_dir / "output.log"),
                  "metrics_file": str(run_dir / "metrics.jsonl")},
        "pulls": run_queries.pulls(conn, run_id),
    }
    if args.json:
        emit({"run": data, **extra})
        return ExitCode.OK
    lines = [
        f"run {data['id']}  {data['name']}",
        f"state      {STATE_GLYPHS[data['state']]} {data['state']}"
        + (f", {data['detail']}" if data.get("detail") else "")
        + (f"  ({data['reason']})" if data["reason"] else "")
        + (f"  exit code {data['exit_code']}" if data["exit_code"] is not None else ""),
        f"command    {' '.join(_quote(a) for a in data['command'])}",
        "params     " + (" ".join(f"{k}={v}" for k, v in data["params"].items()) or "-"),
        f"target     {data['target']}  gpus {','.join(map(str, data['gpus'])) or '-'}"
        f" (asked {data['gpu_count']})",
        f"parent     {data['parent'] if data['parent'] is not None else '-'}",
        *_workflow_lines(data, extra["group"], trial),
        f"tags       {', '.join(data['tags']) or '-'}",
        f"project    {data['project']}" + (f"  (in {data['workdir']})" if data["workdir"] else ""),
        f"snapshot   {data['snapshot'][:12] if data['snapshot'] else '-'}"
        + (f"  {snapshot[0]} files, {formatting.size(snapshot[1])}" if snapshot else ""),
        f"git        {data['git']['commit'] or '-'}" + ("  (uncommitted changes)"
                                                        if data["git"]["dirty"] else ""),
        f"created    {data['created_at']}",
        f"started    {data['started_at'] or '-'}",
        f"finished   {data['finished_at'] or '-'}",
        "metrics    " + (" ".join(f"{k}={formatting.number(v)}"
                                   for k, v in data["metrics"].items()) or "-"),
        f"log        {extra['paths']['log']}",
        *_pull_lines(data, extra["pulls"]),
        "history",
        *(f"  {e['at']}  {e['message']}" for e in events),
    ]
    from core.textsafe import inline    # lazy: ~2 ms `tui status --json` skips
    print("\n".join(inline(line) for line in lines))
    return ExitCode.OK


def _workflow_lines(data: dict, group: dict | None, trial: dict | None) -> list[str]:
    """The lines of `tui show` about groups, dependencies, attempts, rules and resuming."""
    lines = []
    if group is not None:
        lines.append(f"group      {group['id']} ({group['kind']} {group['name']}, "
                     f"{group['runs']} runs)")
    if trial is not None:
        told = f" ({trial['reason']})" if trial["reason"] else ""
        value = f", {group['spec']['objective']['metric']}={formatting.number(trial['value'])}" \
            if trial["value"] is not None and group is not None else ""
        lines.append(f"trial      {trial['number']} of search {trial['search']}: "
                     f"{trial['state']}{value}{told}")
    if data["depends_on"]:
        lines.append(f"after      {', '.join(map(str, data['depends_on']))}")
    for group_id in data.get("after_groups") or ():
        lines.append(f"after      every run of group {group_id}")
    if data["retries"] or data["attempt"] > 1:
        line = f"attempt    {data['attempt']} of {data['retries'] + 1}"
        if data["retry_of"] is not None:
            line += f" (first: run {data['retry_of']})"
        if data["retried_as"] is not None:
            line += f", retried as run {data['retried_as']}"
        lines.append(line)
    if data["stop_if"]:
        lines.append(f"stop if    {'; '.join(data['stop_if'])}")
    point = data.get("resume_point")
    if data["checkpoints"] or data["resume_from"] or point:
        source, _, path = (point or "").partition(":")
        said = f"run {source}'s {path}" if source.isdigit() else None
        where = data["resume_from"]
        lines.append(f"checkpts   {data['checkpoints'] or '-'}"
                     + (f"  resumes from {said}" if said else "")
                     + (f" ({where})" if said and where else
                        f"  resumed from {where}" if where else ""))
    return lines


def _pull_lines(data: dict, pulls: list[dict]) -> list[str]:
    """Declared outputs, and what pulls put on this machine (`tui pull`, outputs)."""
    lines = [f"outputs    {' '.join(data['outputs'])}"] if data.get("outputs") else []
    for pull in pulls:
        lines.append(f"pulled     {pull['files']} file{'s' if pull['files'] != 1 else ''}, "
                     f"{formatting.size(pull['bytes'] or 0)} in {pull['to']} "
                     f"({pull['why']}, {pull['at']})")
    return lines


def _quote(arg: str) -> str:
    import shlex                            # lazy: as clean_line in show()
    return shlex.quote(arg)


# ---------------------------------------------------------------- wait and cancel

def wait(args, paths: StorePaths) -> int:
    """Wait for runs to end; a run that is retried is followed to its last attempt."""
    conn = need_reader(paths)
    ids = resolve_ids(conn, args.ids)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    current = {run_id: run_id for run_id in ids}         # asked-for id -> attempt waited on
    finals: dict[int, dict] = {}

    def ended(data: dict) -> None:
        for asked, attempt in current.items():
            if attempt != data["id"] or asked in finals:
                continue
            if data["retried_as"] is not None:
                if not args.quiet:
                    say(f"run {data['id']} {data['state']} ({data['reason']}); retrying as run "
                        f"{data['retried_as']}")
                current[asked] = data["retried_as"]
            else:
                finals[asked] = data
                _report_finished(data, args.quiet)

    while len(finals) < len(ids):
        progressed = True
        while progressed:
            progressed = False
            for asked in ids:
                if asked in finals:
                    continue
                data = run_queries.run_json(conn, current[asked])
                if data["state"] in TERMINAL:
                    ended(data)
                    progressed = True
        pending = [current[i] for i in ids if i not in finals]
        if not pending:
            break
        try:
            _wait_engine(paths, pending, ended, deadline)
        except TimeoutError:
            say(f"timed out waiting for run(s) {', '.join(map(str, pending))}")
            return ExitCode.TIMEOUT
        except EngineSilent:
            raise                              # stopped or hung: waiting longer is no answer
        except EngineError:
            time.sleep(0.2)                    # the engine restarted: look again, then rewait
    if len(ids) == 1:
        code = finals[ids[0]]["exit_code"]
        if finals[ids[0]]["state"] == "succeeded":
            return ExitCode.OK
        return code if code not in (None, 0) and 0 < code < 256 else ExitCode.RUN_FAILED
    return ExitCode.OK if all(f["state"] == "succeeded" for f in finals.values()) \
        else ExitCode.RUN_FAILED


def _wait_engine(paths, pending, ended, deadline) -> None:
    from core.requests import WaitRequest      # lazy: see the note on TERMINAL
    client = EngineClient(paths)
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    if timeout == 0.0:
        raise TimeoutError
    try:
        for reply in client.stream(WaitRequest(ids=pending, stream=True), timeout=timeout):
            if reply.get("event") == "finished":
                ended(reply["run"])
    except socket.timeout:
        raise TimeoutError from None


def _report_finished(data: dict, quiet: bool) -> None:
    if quiet:
        return
    took = formatting.duration(formatting.elapsed(data["started_at"], data["finished_at"]))
    shown = " ".join(f"{k}={formatting.number(v)}" for k, v in list(data["metrics"].items())[:4])
    reason = f" ({data['reason']})" if data["reason"] and data["state"] != "succeeded" else ""
    say(f"run {data['id']} {data['name']} {data['state']}{reason} after {took}"
        + (f"  {shown}" if shown else ""))


def remove(args, paths: StorePaths) -> int:
    conn = need_reader(paths)
    ids = resolve_ids(conn, args.ids)
    from core.requests import RemoveRequest    # lazy: see the note on TERMINAL
    reply = EngineClient(paths).request(RemoveRequest(ids=ids))
    removed = reply["removed"]
    if args.json:
        emit({"removed": removed, "freed_bytes": reply["freed_bytes"]})
    else:
        sys.stdout.write("".join(f"{run['id']}\n" for run in removed))
    for warning in reply["warnings"]:
        say(f"warning: {warning}")
    for note in reply.get("notes", []):
        say(note)
    say(f"removed {len(removed)} run{'s' if len(removed) != 1 else ''}, "
        f"{formatting.size(reply['freed_bytes'])} freed")
    return ExitCode.OK


def cancel(args, paths: StorePaths) -> int:
    conn = need_reader(paths)
    ids = resolve_ids(conn, args.ids)
    from core.requests import CancelRequest    # lazy: see the note on TERMINAL
    reply = EngineClient(paths).request(CancelRequest(ids=ids))
    if args.json:
        emit({"runs": reply["runs"]})
    for item in reply["runs"]:
        if item["changed"]:
            say(f"run {item['id']} {item['state']}")
        else:
            say(f"run {item['id']} had already ended ({item['state']})")
    return ExitCode.OK
