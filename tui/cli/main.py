"""The `tui` command: parsing and dispatch. Headless commands never import Textual.

stdout carries data, stderr carries messages; exit codes are `core.errors.ExitCode`.
"""

from __future__ import annotations

import sys

import core
from core.errors import ExitCode, RunyardError
from core.storehome import home_folder
from tui.cli.plain_launch import parse_plain_launch

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read these names
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from types import SimpleNamespace

    from core.paths import StorePaths
    from tui.cli.parser import Parser

    # What opens the full-screen app (with the parsed options: --theme, --reset-view): given
    # by tui.entry (the `tui` command), which sits above both the CLI and the app, so this
    # package never imports Textual.
    OpenApp = Callable[[StorePaths, argparse.Namespace], int]


def main(argv: list[str] | None = None, open_app: OpenApp | None = None) -> int:
    """Run one `tui` command line; with no command, `open_app` (headless callers pass
    none, and then get the usage text)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser: Parser | None = None
    args: argparse.Namespace | SimpleNamespace | None = parse_plain_launch(argv)
    if args is None:
        # lazy: a plain `tui launch` skips argparse (~2 ms to import, tests/bench/
        # bench_imports.py) and building the parser (its help formatters import shutil):
        # ~7 ms of CPU in all; tui.cli.plain_launch reads it
        from tui.cli.parser import COMMANDS, build_parser, command_word, split_command
        chosen = command_word(argv)
        parser = build_parser(chosen if chosen in COMMANDS else None, argv)
        parser.command = chosen if chosen in COMMANDS else None
        args = parser.parse_args(split_command(argv))
    if args.version:
        print(core.__version__)
        return ExitCode.OK
    try:
        return int(dispatch(args, parser, open_app))
    except RunyardError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()          # `tui status | head`: the reader left; not an error
        return ExitCode.OK
    except Exception as exc:
        import sqlite3              # lazy: loaded by now whenever this is a store error
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        # lazy: only a store error gets this far
        from core.store.db import database_error
        from core.paths import StorePaths
        paths = StorePaths.from_env({"RUNYARD_HOME": args.home} if args.home else None)
        return _report(database_error(paths.db, exc))


def _report(error: RunyardError) -> int:
    """An error as the user sees it: one line, a hint, the exit code."""
    from core.textsafe import inline    # lazy: only an error pays for it (see tui.cli.output)
    print(f"error: {inline(error.message)}", file=sys.stderr)
    if error.hint:
        print(f"hint: {inline(error.hint)}", file=sys.stderr)
    return int(error.code)


def dispatch(args, parser: Parser | None, open_app: OpenApp | None = None) -> int:
    # lazy: each command imports only its own module (`tui status --json` would pay ~11 ms
    # for the others' requests); `tui launch` gets the store as a string and `tui --help`
    # stops before this, so both skip core.paths and pathlib (~4 ms, tests/bench/
    # bench_imports.py)
    home = home_folder({"RUNYARD_HOME": args.home} if args.home else None)
    if args.command in ("launch", "clone"):
        from tui.cli import launch as cli_launch  # lazy
        return cli_launch.run(args, home)
    from core.paths import StorePaths   # lazy: as above (pathlib)
    paths = StorePaths(home)
    if args.command is None:
        if open_app is None:
            if parser is not None:          # (None only for a plain launch, gone above)
                parser.print_usage(sys.stderr)
            return ExitCode.USAGE
        return open_app(paths, args)
    if args.command in ("targets", "engine"):
        from tui.cli import engine as cli_engine  # lazy
        return cli_engine.run(args, paths)
    if args.command in ("files", "pull"):
        from tui.cli import files as cli_files  # lazy
        return cli_files.run(args, paths)
    if args.command == "compare":
        from tui.cli import compare as cli_compare  # lazy
        return cli_compare.run(args, paths)
    if args.command == "watch":
        from tui.cli import watch as cli_watch  # lazy
        return cli_watch.run(args, paths)
    if args.command == "search":
        from tui.cli import search as cli_search  # lazy
        return cli_search.run(args, paths)
    if args.command == "metrics":
        from tui.cli import metrics as cli_metrics  # lazy
        return cli_metrics.metrics(args, paths)
    if args.command == "logs":
        from tui.cli import logs as cli_logs  # lazy
        return cli_logs.logs(args, paths)
    from tui.cli import runs as cli_runs  # lazy
    return cli_runs.run(args, paths)
