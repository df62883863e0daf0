"""A plain `tui launch [--name N ...] -- COMMAND` read without argparse: the launch hot path.

Importing argparse (~2 ms, tests/bench/bench_imports.py) and building its parser cost a
launch about 7 ms of CPU in all, more than the engine takes to record the run. This reads only the
simplest, commonest form, exactly as tui.cli.parser would; any other command line (help,
a workflow option, an abbreviated or unknown flag, a missing or odd value, no `--`) is
declined and goes to argparse, so every error and every other form stays argparse's own.
"""

from __future__ import annotations

from types import SimpleNamespace

# The options read here, as tui.cli.parser defines them: dest and kind of each.
_VALUES = {"--name": "name", "--target": "target", "--gpus": "gpus"}
_LISTS = {"--set": "set", "--env": "env_vars", "--tag": "tags"}
_FLAGS = {"--json": "json", "--full": "full", "--force": "force"}


def parse_plain_launch(argv: list[str]) -> SimpleNamespace | None:
    """What tui.cli.parser would make of `argv`, when it is a plain launch; else None."""
    args = SimpleNamespace(home=None, version=False, theme=None, reset_view=False,
                           command="launch", name=None, target=None, gpus=None, set=[],
                           env_vars=[], tags=[], json=False, full=False, force=False)
    if "--" not in argv:
        return None
    words, i = argv[:argv.index("--")], 0
    while i < len(words) and words[i] != "launch":       # the tool's own options first
        value, i = _value(words, i, "--home")
        if value is None:
            return None
        args.home = value
    if i == len(words):
        return None
    i += 1
    while i < len(words):
        word = words[i]
        if word in _FLAGS:
            setattr(args, _FLAGS[word], True)
            i += 1
            continue
        option = word.split("=", 1)[0]
        value, i = _value(words, i, option)
        if value is None or option not in _VALUES and option not in _LISTS:
            return None
        if option in _LISTS:
            getattr(args, _LISTS[option]).append(value)
        elif option == "--gpus":
            try:
                args.gpus = int(value)
            except ValueError:
                return None                         # argparse says what is wrong with it
        else:
            setattr(args, _VALUES[option], value)
    args.argv = argv[len(words):]               # from the `--` on, as argparse's REMAINDER
    return args


def _value(words: list[str], i: int, option: str) -> tuple[str | None, int]:
    """The value of `option` at words[i] (`--opt=V` or `--opt V`) and the index after it;
    None when words[i] is not that option or its value might be read otherwise by argparse."""
    word = words[i]
    if word.startswith(option + "="):
        return word[len(option) + 1:], i + 1
    if word != option or i + 1 == len(words) or words[i + 1].startswith("-"):
        return None, i
    return words[i + 1], i + 2
