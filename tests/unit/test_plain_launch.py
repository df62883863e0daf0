"""A plain `tui launch` read without argparse means exactly what argparse makes of it, and
every other command line still goes to argparse (its help, its errors, its exit codes)."""

import subprocess
import sys

import pytest

from tui.cli.launch import _WORKFLOW_DEFAULTS
from tui.cli.parser import build_parser, split_command
from tui.cli.plain_launch import parse_plain_launch

TAKEN = [
    ["launch", "--", "true"],
    ["launch", "--force", "--", "true"],
    ["launch", "--"],
    ["launch", "--", "--", "x", "--name", "y"],
    ["launch", "--name", "x", "--name", "y", "--json", "--full", "--", "python3", "t.py"],
    ["launch", "--name=", "--target=box", "--gpus", " 2", "--", "a", "-b"],
    ["launch", "--gpus=1_0", "--set", "lr=0.1", "--set=bs=3", "--env", "A=1", "--tag", "t",
     "--tag=u", "--", "x"],
    ["launch", "--name", "", "--", "x"],
    ["launch", "--name", "launch", "--", "x"],
    ["--home", "/h", "launch", "--", "x"],
    ["--home=/a", "--home", "launch", "launch", "--force", "--", "x"],
]
DECLINED = [
    ["launch", "true"],                         # no `--`: a positional command
    ["launch", "--help", "--", "x"],
    ["launch", "-h", "--", "x"],
    ["launch", "--nam", "x", "--", "y"],        # an abbreviation
    ["launch", "--name", "--", "y"],            # a missing value
    ["launch", "--name", "-1", "--", "y"],      # a value argparse reads its own way
    ["launch", "--gpus", "two", "--", "y"],
    ["launch", "--gpus=", "--", "y"],
    ["launch", "--json=yes", "--", "y"],
    ["launch", "--sweep", "a=1,2", "--", "y"],  # a workflow option
    ["launch", "--dry-run", "--", "y"],
    ["launch", "--bogus", "--", "y"],
    ["launch", "python3", "--", "y"],
    ["launch", "--home", "/h", "--", "y"],      # --home goes before the command
    ["--version", "launch", "--", "y"],
    ["--theme", "x", "launch", "--", "y"],
    ["status", "--", "x"],
    ["clone", "1", "--", "x"],
    ["--home", "launch", "--", "x"],
    [],
]


def _argparse(argv):
    args = build_parser(None, argv).parse_args(split_command(argv))
    return {**_WORKFLOW_DEFAULTS, "resume": False, **vars(args)}


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_a_plain_launch_reads_as_argparse_reads_it(argv):
    plain = parse_plain_launch(argv)
    assert plain is not None
    assert {**_WORKFLOW_DEFAULTS, "resume": False, **vars(plain)} == _argparse(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=" ".join)
def test_anything_else_is_left_to_argparse(argv):
    assert parse_plain_launch(argv) is None


def test_the_cli_loads_argparse_only_when_it_parses_with_it():
    script = ("import sys\n"
              "before = set(sys.modules)\n"
              "import tui.entry\n"
              "from tui.cli.plain_launch import parse_plain_launch\n"
              "assert parse_plain_launch(['launch', '--force', '--', 'true'])\n"
              "assert 'argparse' not in set(sys.modules) - before, 'argparse imported'\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("argv,needle", [
    (["launch", "--bogus", "--", "true"], "unrecognized arguments: --bogus"),
    (["launch", "--gpus", "two", "--", "true"], "argument --gpus: invalid int value: 'two'"),
    (["launch", "--name", "--", "true"], "argument --name: expected one argument"),
])
def test_a_bad_flag_is_still_one_line_with_a_hint_and_exit_2(argv, needle, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tui", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env={"RUNYARD_HOME": str(tmp_path / "store"),
                                             "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {needle}",
                                        "hint: `tui launch --help` lists what it takes"]


def test_launch_help_is_argparse_s(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tui", "launch", "--help"], capture_output=True,
                          text=True, cwd=tmp_path, env={"RUNYARD_HOME": str(tmp_path / "s")})
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: tui launch") and "--stop-if" in proc.stdout


@pytest.mark.parametrize("home", [["--home", "status"], ["--ho", "logs"], ["--home=rm"]])
def test_a_store_folder_named_like_a_command_is_not_read_as_the_command(home, tmp_path):
    # The fast path takes `--home status launch --name x -- true`; argparse, told the command
    # was `status`, built only status's arguments and refused the same launch with a workflow
    # option (exit 2, "unrecognized arguments", a hint naming `tui status`).
    (tmp_path / "t.py").write_text("print(1)\n")
    proc = subprocess.run([sys.executable, "-m", "tui", *home, "launch", "--name", "x",
                           "--dry-run", "--", "true"], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "dry run" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "tui", *home, "status", "--bogus"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == "hint: `tui status --help` lists what it takes"
