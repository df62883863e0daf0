"""The `tui` command: a headless command (tui.cli), or with none the full-screen app (tui.app)."""

from __future__ import annotations

import os
import sys

from tui.cli.main import main

TYPE_CHECKING = False           # `tui --help` skips core.paths (pathlib, ~5 ms): checkers only
if TYPE_CHECKING:
    import argparse

    from core.paths import StorePaths


def entry() -> None:
    """The `tui` console script: main(), then exit at once.

    Everything is flushed first; skipping the interpreter's teardown (it frees every
    module one by one) saves a CLI call about 5 ms, and nothing here registers atexit work.
    """
    code = main(open_app=open_app)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):      # reader gone, or stream closed
            code = code or 0
    os._exit(code)


def open_app(paths: StorePaths, args: argparse.Namespace) -> int:
    # lazy: Textual and the app take ~180 ms to import, which every headless command would
    # pay if this sat at the top (tests/bench/bench_imports.py)
    from tui.app.app import run_app
    return run_app(paths, theme=args.theme, reset_view=args.reset_view)
