"""`tui logs`: a run's output; to a terminal made safe, with a redrawn line shown live.

The log is read through the app's own reader (tui.log_file.LogFile): `--tail` counts
lines from the end, the rest is read straight through as it grows.

Piped (or with --raw) the bytes go out as written. To a terminal every line is cleaned
(core.textsafe: colours kept, other control sequences dropped, carriage returns played as
a terminal plays them), and with -f the line being redrawn (a progress bar, which has no
newline yet) shows its current state in place, cut to the terminal's width, until its
newline comes.
"""

from __future__ import annotations

import shutil
import sys
import time
import unicodedata

from core.errors import ExitCode, UsageError
from core.paths import StorePaths
from core.store import queries as run_queries
from core.textsafe import clean_bytes
from tui.cli.output import say
from tui.cli.runs import TERMINAL, need_reader
from tui.log_file import LogFile

COLLAPSE = 256 * 1024           # an unfinished line past this keeps only its shown state
READ_CHUNK = 4 * 1024 * 1024    # read this much of a log at a time
FOLLOW_POLL = 0.1               # seconds between looks at a followed log that is quiet


def logs(args, paths: StorePaths) -> int:
    if args.tail is not None and args.tail < 0:     # `tail -3` habits: it printed nothing
        raise UsageError(f"--tail {args.tail}: expected 0 or more lines",
                         hint="for example: tui logs ID --tail 3")
    conn = need_reader(paths)
    run_id = run_queries.resolve_id(conn, args.id)
    log = LogFile(paths.output_log(run_id))
    raw = args.raw or not sys.stdout.isatty()
    out = sys.stdout.buffer
    view = None if raw else LiveTerminal(out)
    offset = log.tail_start(args.tail) if args.tail is not None else 0
    while True:
        chunk = log.read_through(offset, READ_CHUNK)
        offset += len(chunk)
        if view is None:
            out.write(chunk)
        else:
            view.add(chunk)
        if chunk:
            continue                                   # read on to the end of the file
        if not args.follow:
            break
        if view is not None:
            view.show_unfinished()
        out.flush()
        row = run_queries.state_and_next_attempt(conn, run_id)
        if row is None:                                # removed (`tui rm`) while followed
            break
        state, retry = row
        if state in TERMINAL and log.size() <= offset:
            if retry is None:
                break
            if view is not None:
                view.end_line()                        # the attempt's unfinished last line
            elif offset and log.read(offset - 1, 1) != b"\n":
                out.write(b"\n")                       # the next attempt starts a new line
            out.flush()
            say(f"run {run_id} {state}; following its retry, run {retry}")
            log.close()
            run_id, offset = retry, 0
            log = LogFile(paths.output_log(run_id))
            continue
        time.sleep(FOLLOW_POLL)
    if view is not None:
        view.end_line(newline=args.follow)
    out.flush()
    log.close()
    return ExitCode.OK


class LiveTerminal:
    """Writes output to a terminal, made safe; the unfinished line can be shown in place."""

    def __init__(self, out):
        self.out = out
        self.pending = b""                  # the unfinished last line
        self.shown: str | None = None       # what of it is on the screen now

    def add(self, chunk: bytes) -> None:
        self.pending += chunk
        cut = self.pending.rfind(b"\n") + 1
        if cut:
            self._clear_shown()
            self.out.write(clean_bytes(self.pending[:cut]).encode())
            self.pending = self.pending[cut:]
        if len(self.pending) > COLLAPSE and b"\r" in self.pending:
            # What a terminal shows of the redraws so far, then the last redraw as written.
            last = self.pending.rfind(b"\r")
            self.pending = clean_bytes(self.pending[:last]).encode() + self.pending[last:]

    def show_unfinished(self) -> None:
        """Show the unfinished line's current state in place of what was shown of it."""
        if not self.pending:
            return
        state = fit(clean_bytes(self.pending, keep_sgr=False),
                    shutil.get_terminal_size().columns - 1)
        if state != self.shown:
            self.out.write(b"\r" + state.encode() + b"\x1b[K")
            self.shown = state

    def end_line(self, newline: bool = True) -> None:
        """The unfinished line is all there will be: print it as a whole line."""
        if not self.pending:
            return
        self._clear_shown()
        self.out.write(clean_bytes(self.pending).encode() + (b"\n" if newline else b""))
        self.pending = b""

    def _clear_shown(self) -> None:
        if self.shown is not None:
            self.out.write(b"\r\x1b[K")
            self.shown = None


def fit(text: str, cells: int) -> str:
    """`text` cut to at most `cells` terminal cells (wide characters take two)."""
    used = 0
    for index, char in enumerate(text):
        width = 0 if unicodedata.combining(char) else \
            2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used + width > cells:
            return text[:index]
        used += width
    return text
