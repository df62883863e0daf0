"""A `tui launch` to a running engine takes the short way: no argparse, no pathlib."""

import subprocess
import sys

SCRIPT = """
import sys
before = set(sys.modules)
from tui.cli.main import main
assert main(sys.argv[1:]) == 0
heavy = sorted({"argparse", "pathlib"} & (set(sys.modules) - before))
assert not heavy, f"a plain launch imported {heavy}"
"""


def test_a_plain_launch_to_a_running_engine_skips_argparse_and_pathlib(cli, env, project):
    first = cli.launch("true")
    cli("wait", str(first))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "launch", "--force", "--name", "again",
                           "--tag", "t", "--", "sh", "-c", "echo $0", "said"], env=env,
                          cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    second = int(proc.stdout)
    assert second == first + 1
    assert cli("wait", str(second)).returncode == 0
    run = cli.run(second)
    assert run["name"] == "again" and run["tags"] == ["t"]
    assert "said" in cli("logs", str(second)).stdout


def test_with_no_engine_a_plain_launch_starts_one(cli, env, project):
    assert cli.engine_pid() is None
    run_id = cli.launch("true", opts=("--force",))
    assert cli("wait", str(run_id)).returncode == 0 and cli.engine_pid()
