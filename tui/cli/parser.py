"""The `tui` command line's argparse parser: every command, its options, help and errors.

A plain `tui launch` skips it (tui.cli.plain_launch); every other command line, and any
launch that one declines, is parsed here.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import ExitCode

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read these names
if TYPE_CHECKING:
    from typing import NoReturn

EPILOG = """exit codes: 0 ok, 1 a waited-for run did not succeed, 2 usage error, 3 unknown run or
target, 4 configuration error, 5 engine unavailable, 6 store not writable (disk full),
124 wait timed out, 130 interrupted."""


class Parser(argparse.ArgumentParser):
    """argparse, erring as every `tui` error does: one line, a hint, exit code 2 (argparse's
    own prints the usage block, and names `tui` for a subcommand's unknown flag)."""

    command: str | None = None          # the subcommand argv names, for the hint

    def error(self, message: str) -> NoReturn:
        from core.textsafe import inline    # lazy: only an error pays for it
        print(f"error: {inline(message)}", file=sys.stderr)
        print(f"hint: {inline(self._hint(message))}", file=sys.stderr)
        sys.exit(ExitCode.USAGE)

    def _hint(self, message: str) -> str:
        prog = f"tui {self.command}" if self.prog == "tui" and self.command else self.prog
        if message.startswith("argument COMMAND: invalid choice: '"):
            import difflib                  # lazy: ~1 ms, paid only by a mistyped command
            typed = message.split("'")[1]
            close = difflib.get_close_matches(typed, COMMANDS, n=1)
            if close:
                return f"did you mean `tui {close[0]}`? `tui --help` lists the commands"
        return f"`{prog} --help` lists what it takes"


def _launch_options(parser: argparse.ArgumentParser, clone: bool = False) -> None:
    parser.add_argument("--name", help="a name for the run")
    parser.add_argument("--target", help="where to run it (a [targets.NAME] of the config; "
                                         "default: " + ("the parent's" if clone else "local") + ")")
    parser.add_argument("--gpus", type=int, help="how many GPUs the run gets (default: "
                                                 + ("the parent's" if clone else "0") + ")")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set a param: rewrites --KEY in the command or fills {KEY}")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", dest="env_vars",
                        help="an environment variable for the run")
    parser.add_argument("--tag", action="append", default=[], dest="tags", help="a tag")
    parser.add_argument("--json", action="store_true", help="print the new run as JSON")
    parser.add_argument("--full", action="store_true",
                        help="with --json: every run's JSON even past 1,000 runs (a bigger "
                             "launch prints its ids as ranges and a count)")


def _workflow_options(parser: argparse.ArgumentParser, clone: bool = False) -> None:
    """Sweeps, dependencies, retries, stop rules, caching, plans (README: Workflows).

    Built only when the command line uses one of them or asks for help: each option
    costs argparse ~0.1 ms to build, and a plain `tui launch` is the hot path.
    """
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=VALUES",
                        help="sweep a param: lr=0.1,0.01 or lr=log(1e-4,1e-1), uniform(A,B), "
                             "int(A,B), range(A,B,STEP); repeat for a grid")
    parser.add_argument("--samples", type=int, metavar="N",
                        help="random search: N runs drawn from the --sweep axes")
    parser.add_argument("--seed", type=int, help="seed of the random search (default: random, "
                                                 "recorded with the sweep)")
    parser.add_argument("--after", action="append", default=[], metavar="ID[,ID...]",
                        help="start only when these runs have succeeded")
    parser.add_argument("--retries", type=int, metavar="N",
                        help="try a failed run up to N more times" +
                             (" (default: the parent's)" if clone else ""))
    parser.add_argument("--retry-on", metavar="REGEX",
                        help="retry only when the output matches, e.g. 'CUDA out of memory'")
    parser.add_argument("--retry-delay", type=float, metavar="SECONDS",
                        help="wait before the first retry, doubling each time (default 5)")
    parser.add_argument("--stop-if", action="append", default=[], metavar="RULE",
                        help="stop the run when a metric rule holds: 'loss is nan', "
                             "'val_loss > 10', 'val_acc plateau 5'")
    parser.add_argument("--checkpoints", metavar="DIR",
                        help="the folder (in the run's code folder) it writes checkpoints to")
    parser.add_argument("--outputs", action="append", default=[], metavar="GLOB",
                        help="files (globs in the run's working folder, e.g. 'results/*.csv') "
                             "pulled to this machine when the run ends (repeatable)")
    parser.add_argument("--force", action="store_true",
                        help="run even if a run with the same spec already succeeded")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be launched; record and start nothing")
    if clone:
        parser.add_argument("--resume", action="store_true",
                            help="hand the parent's newest checkpoint to the new run "
                                 "($RUNYARD_RESUME_FROM)")
        return
    parser.add_argument("--search", metavar="SAMPLER",
                        help="an adaptive search over the --sweep axes: tpe, random, cmaes "
                             "or gp (each trial's params chosen from the results so far)")
    parser.add_argument("--objective", metavar="METRIC[:min|max]",
                        help="with --search: the metric a trial is judged by, e.g. "
                             "val_loss:min, val_acc:max:best, loss:min:mean5 (default: its "
                             "last value)")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="with --search: how many trials to complete (pruned ones count, "
                             "failed ones not)")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="with --search: trials in flight at once (default 1)")
    parser.add_argument("--prune", metavar="PRUNER",
                        help="with --search: stop trials that fall behind: median, asha or "
                             "hyperband")
    parser.add_argument("--file", metavar="FILE",
                        help="a workflow file (TOML): a sweep, or a chain of steps")
    parser.add_argument("--watch", action="append", default=[], metavar="PATH",
                        help="relaunch whenever files under PATH change (repeatable)")
    parser.add_argument("--debounce", type=float, metavar="SECONDS",
                        help="with --watch: wait for this much quiet after a change (default 1)")


# Options of launch and clone that need no workflow option built (see _workflow_options).
_PLAIN_OPTIONS = {"--name", "--target", "--gpus", "--set", "--env", "--tag", "--json", "--full",
                  "--code",
                  "--home", "--theme"}


def _uses_workflow_options(argv: list[str]) -> bool:
    words = argv[:argv.index("--")] if "--" in argv else argv
    return any(w.startswith("-") and w.split("=", 1)[0] not in _PLAIN_OPTIONS for w in words)


def _launch_args(p) -> None:
    _launch_options(p)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")


def _clone_args(p) -> None:
    p.add_argument("id", help="the run to clone (a number, or `last`)")
    _launch_options(p, clone=True)
    p.add_argument("--code", choices=["parent", "current"], default="parent",
                   help="the parent's snapshot (default) or the project's files as they are now")


def _status_args(p) -> None:
    p.add_argument("--json", action="store_true", help="print JSON (schema 1)")
    p.add_argument("--state", action="append", default=[],
                   choices=["queued", "running", "succeeded", "failed", "cancelled", "stopped",
                            "lost"],
                   help="only runs in this state (repeatable)")
    p.add_argument("--all", action="store_true", help="every run in the store")
    p.add_argument("--group", type=int, metavar="G",
                   help="only the runs of this group (a sweep, chain or watch)")
    p.add_argument("--format", choices=["table", "tmux"], default="table",
                   help="tmux: one short line for a tmux status bar")
    _results_options(p)
    p.add_argument("--best", action="store_true",
                   help="mark the best value of each metric column with * (bold on a terminal)")


def _results_options(p) -> None:
    """The results-table choices `tui status` and `tui compare` share."""
    p.add_argument("--columns", action="append", default=[], metavar="COLS",
                   help="params and metrics as columns: lr,bs,val_acc,loss:min (a metric as "
                        "last, best, min or max); +KEY adds to the default columns (the "
                        "params that differ, the metrics all runs have), -KEY drops one")
    p.add_argument("--sort", metavar="COLUMN",
                   help="order by a column: a metric best first (lower for loss-like names), "
                        "a param ascending; or id, name, state")
    p.add_argument("--reverse", action="store_true", help="the other way round")


def _compare_args(p) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="runs to compare (or `last`)")
    p.add_argument("--group", metavar="G",
                   help="every run of a group (a sweep, chain or watch): its id or name")
    _results_options(p)
    formats = p.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON (schema 1)")
    formats.add_argument("--csv", action="store_true", help="print CSV (raw values)")
    formats.add_argument("--markdown", action="store_true",
                         help="print a Markdown table, best values in bold")


def _show_args(p) -> None:
    p.add_argument("id")
    p.add_argument("--json", action="store_true")


def _logs_args(p) -> None:
    p.add_argument("id")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--raw", action="store_true",
                   help="bytes as written, even to a terminal (default: raw only when piped)")


def _metrics_args(p) -> None:
    p.add_argument("ids", nargs="*", metavar="ID",
                   help="the run (several with --reparse)")
    p.add_argument("--json", action="store_true", help="every point, as JSON")
    p.add_argument("--key", action="append", default=[], help="only this metric (repeatable)")
    p.add_argument("--reparse", action="store_true",
                   help="read the runs' output anew with the [metrics] rules of their "
                        "projects now (the runs must have ended)")
    p.add_argument("--group", type=int, metavar="G",
                   help="with --reparse: every ended run of this sweep, chain or watch")


def _files_args(p) -> None:
    p.add_argument("id", help="the run (a number, or `last`)")
    p.add_argument("--all", action="store_true",
                   help="also the snapshot's files the run left unchanged")
    p.add_argument("--json", action="store_true", help="print JSON (schema 1)")


def _pull_args(p) -> None:
    p.add_argument("id", help="the run (a number, or `last`)")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or globs ('*.csv', 'results/', 'model.pt'); default: every "
                        "file the run wrote")
    p.add_argument("--to", metavar="DIR", help="where to put them (default: the run's "
                                                "folder in the store, runs/ID/out)")
    p.add_argument("--all", action="store_true",
                   help="with no PATH: the unchanged code files too")
    p.add_argument("--json", action="store_true", help="print JSON (schema 1)")


def _wait_args(p) -> None:
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 124)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing")


def _cancel_args(p) -> None:
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--json", action="store_true")


def _targets_args(p) -> None:
    p.add_argument("--json", action="store_true")


def _watch_args(p) -> None:
    watch_sub = p.add_subparsers(dest="watch_command", metavar="ACTION", required=True)
    q = watch_sub.add_parser("list", help="the watches, active and stopped")
    q.add_argument("--json", action="store_true")
    q = watch_sub.add_parser("stop", help="stop watching (runs already made go on)")
    q.add_argument("ids", nargs="+", metavar="WATCH")
    q.add_argument("--json", action="store_true")


def _search_args(p) -> None:
    search_sub = p.add_subparsers(dest="search_command", metavar="ACTION", required=True)
    q = search_sub.add_parser("list", help="the searches: state, trials done, best trial")
    q.add_argument("--json", action="store_true")
    q = search_sub.add_parser("stop", help="ask no more trials; queued ones are cancelled, "
                                           "running ones finish")
    q.add_argument("group", metavar="G", help="the search: its group id or name")
    q.add_argument("--cancel", action="store_true", help="cancel the running trials too")
    q.add_argument("--json", action="store_true")
    q = search_sub.add_parser("extend", help="give a search more trials (an ended one goes on)")
    q.add_argument("group", metavar="G", help="the search: its group id or name")
    q.add_argument("--trials", type=int, metavar="N", required=True,
                   help="how many more trials to complete")
    q.add_argument("--json", action="store_true")


def _engine_args(p) -> None:
    engine_sub = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    q = engine_sub.add_parser("status", help="is the engine running, and its pid")
    q.add_argument("--json", action="store_true")
    engine_sub.add_parser("start", help="start the engine in the background")
    engine_sub.add_parser("stop", help="stop the engine (runs keep running)")
    engine_sub.add_parser("run", help="run the engine in the foreground")
    q = engine_sub.add_parser("repair", help="rebuild lost run records from the run folders",
                              description="Rebuild the runs a lost, replaced or damaged "
                                          "database no longer knows from their run folders "
                                          "(spec, state, log, metrics). A damaged database "
                                          "is moved aside; nothing in a run folder changes. "
                                          "Stop the engine first.")
    q.add_argument("--json", action="store_true", help="print what was done as JSON")


# name: (help, description, the function adding its arguments)
COMMANDS = {
    "launch": ("launch a run: tui launch [options] -- COMMAND...",
               "Snapshot the project and queue COMMAND as a new run. Prints the run id.",
               _launch_args),
    "clone": ("launch a copy of a run, with changes",
              "Launch a new run from a run's spec, with --set changes.", _clone_args),
    "status": ("list runs", "List runs: every queued and running run plus the 20 most "
               "recently finished (all with --all).", _status_args),
    "compare": ("runs side by side: params and metrics as a table, best values marked",
                "Compare runs, or every run of a sweep, as a results table: the params that "
                "differ and the metrics they share (or --columns), each metric's best value "
                "marked with *; with a seed param that varies, also mean ± sd over seeds.",
                _compare_args),
    "show": ("everything about one run", None, _show_args),
    "logs": ("print a run's output", None, _logs_args),
    "metrics": ("a run's metrics; --reparse reads ended runs anew with the current rules",
                None, _metrics_args),
    "files": ("the files a run wrote, wherever it ran", "List the files a run created or "
              "changed in its working folder, compared with its snapshot.", _files_args),
    "pull": ("copy a run's files to this machine", "Copy the files a run wrote (or those "
             "named) to this machine; only what is missing or changed travels.", _pull_args),
    "wait": ("wait for runs to end; exit with the run's exit code", None, _wait_args),
    "cancel": ("cancel runs (SIGTERM, grace period, SIGKILL)", None, _cancel_args),
    "rm": ("remove ended runs: their records, logs, metrics and run folders",
           "Remove ended runs and their run folders. Refuses (and removes nothing) when a "
           "run is queued or running, or a run that has not ended still needs it. Removed "
           "ids are not used again; the snapshots' files stay in the store.", _cancel_args),
    "targets": ("list targets, their capacity and health", None, _targets_args),
    "watch": ("list or stop watches made with launch --watch", None, _watch_args),
    "search": ("list, stop or extend adaptive searches made with launch --search", None,
               _search_args),
    "engine": ("the background engine: status, start, stop", None, _engine_args),
}


def build_parser(only: str | None = None, argv: list[str] | None = None) -> Parser:
    """The whole parser; with `only`, just that subcommand gets its arguments (faster), and
    launch and clone get their workflow options only when `argv` uses them."""
    parser = Parser(
        prog="tui", epilog=EPILOG,
        description="runyard: launch, watch and compare experiment runs. "
                    "With no command, opens the full-screen app.")
    parser.add_argument("--home", help="the store folder (env: RUNYARD_HOME; default "
                                       "$XDG_DATA_HOME/runyard)")
    parser.add_argument("--version", action="store_true", help="print the version")
    parser.add_argument("--theme", help="app theme (env: RUNYARD_THEME)")
    parser.add_argument("--reset-view", action="store_true",
                        help="open the app with the default view (sort, filter, columns, "
                             "folds, chart metric), forgetting the one saved for this project")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, description, add_arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description)
        if only is None or only == name:
            add_arguments(p)
            if name in ("launch", "clone") and (argv is None or _uses_workflow_options(argv)):
                _workflow_options(p, clone=name == "clone")
    return parser


# The tool's own options that take a value: the word after one is its value, never a command.
_TOOL_VALUES = ("--home", "--theme")


def command_word(argv: list[str]) -> str | None:
    """The subcommand `argv` names: its first word that is neither an option nor the value of
    one of the tool's own (`tui --home logs status`: status, though logs is a command too)."""
    value_next = False
    for word in argv:
        if value_next:
            value_next = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            # argparse also reads an unambiguous abbreviation (`--ho P`)
            value_next = len(word) > 3 and any(o.startswith(word) for o in _TOOL_VALUES)
        else:
            return word
    return None


def split_command(argv: list[str]) -> list[str]:
    """`launch --name x -- cmd --flag` keeps everything after `--` away from our parser."""
    if argv and argv[0] == "launch" and "--" in argv:
        cut = argv.index("--")
        return argv[:cut] + ["--", *argv[cut + 1:]]
    return argv

