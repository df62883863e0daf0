"""The workflow options of launch and clone are built only when used (the launch hot path)."""

import pytest

from tui.cli.main import main
from tui.cli.parser import build_parser, split_command


def _parse(argv):
    return build_parser(argv[0], argv).parse_args(split_command(argv))


def test_a_plain_launch_builds_no_workflow_option_and_keeps_its_command():
    args = _parse(["launch", "--name", "x", "--", "python", "t.py", "--sweep", "--force"])
    assert args.argv[-3:] == ["t.py", "--sweep", "--force"] and not hasattr(args, "sweep")


def test_workflow_options_parse_when_used():
    args = _parse(["launch", "--sweep", "lr=0.1,0.2", "--after=3", "--dry-run", "--", "true"])
    assert args.sweep == ["lr=0.1,0.2"] and args.after == ["3"] and args.dry_run
    assert _parse(["clone", "4", "--resume"]).resume


def test_help_lists_them_and_a_typo_is_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["launch", "--help"])
    assert "--stop-if" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["launch", "--sweeep", "a=1", "--", "true"])
    assert exit_info.value.code == 2 and "--sweeep" in capsys.readouterr().err
