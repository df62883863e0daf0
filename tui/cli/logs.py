"""`tui logs`: a run's output, read through the app's log reader (tui.log_file)."""

from __future__ import annotations

import sys
import time

from core.errors import ExitCode
from core.paths import StorePaths
from core.store import queries as run_queries
from core.textsafe import clean_bytes
from tui.cli.output import say
from tui.cli.runs import TERMINAL, need_reader
from tui.log_file import LogFile

READ_CHUNK = 4 * 1024 * 1024        # read this much of a log at a time
FOLLOW_POLL = 0.1                   # seconds between looks at a followed log that is quiet


def logs(args, paths: StorePaths) -> int:
    """A run's output through the app's log reader (tui.log_file): to a terminal made
    safe, line by line; piped or --raw, the bytes as written. With -f it follows the run
    until it ends, and on through its retries."""
    conn = need_reader(paths)
    run_id = run_queries.resolve_id(conn, args.id)
    log = LogFile(paths.output_log(run_id))
    raw = args.raw or not sys.stdout.isatty()
    out = sys.stdout.buffer
    offset = log.tail_start(args.tail) if args.tail is not None else 0
    pending = b""
    while True:
        chunk = log.read_through(offset, READ_CHUNK)
        offset += len(chunk)
        if raw:
            out.write(chunk)
        else:
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                _write_clean(out, pending[:cut])
                pending = pending[cut:]
        if chunk:
            continue                                   # read on to the end of the file
        out.flush()
        if not args.follow:
            break
        row = run_queries.state_and_next_attempt(conn, run_id)
        if row is None:                                # removed (`tui rm`) while followed
            break
        state, retry = row
        if state in TERMINAL and log.size() <= offset:
            if retry is None:
                break
            if pending:                                # the attempt's unfinished last line
                _write_clean(out, pending + b"\n")
                pending = b""
            elif raw and offset and log.read(offset - 1, 1) != b"\n":
                out.write(b"\n")                       # the next attempt starts a new line
            out.flush()
            say(f"run {run_id} {state}; following its retry, run {retry}")
            log.close()
            run_id, offset = retry, 0
            log = LogFile(paths.output_log(run_id))
            continue
        time.sleep(FOLLOW_POLL)
    if pending:
        _write_clean(out, pending)
    out.flush()
    log.close()
    return ExitCode.OK


def _write_clean(out, data: bytes) -> None:
    out.write(clean_bytes(data).encode())
