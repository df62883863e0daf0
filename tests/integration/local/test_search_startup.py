"""Optuna (~300 ms to import) is loaded only where a search needs it: never by the CLI, and by
the engine only when a search is launched, planned or live in the store."""

import json
import re
import subprocess
import sys

from tests.helpers import wait_for


def _imported(stderr: str) -> set[str]:
    """Top-level packages a `python -X importtime` process imported."""
    return {m.group(1).split(".")[0]
            for m in re.finditer(r"^import time:.*\|\s+([\w.]+)\s*$", stderr, re.M)}


def _cli_imports(cli, *args) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "tui", *args], cwd=cli.cwd,
                          env=cli.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return _imported(proc.stderr)


def _engine(cli, tmp_path, name):
    """The engine in the foreground of a process whose imports are recorded."""
    log = tmp_path / f"{name}.imports"
    handle = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "core.engine"],
                            env=cli.env, stderr=handle, stdout=subprocess.DEVNULL,
                            cwd=cli.cwd, start_new_session=True)
    def serving():
        reply = cli("engine", "status", "--json", check=False)
        return reply.returncode == 0 and json.loads(reply.stdout)["engine"]["pid"]
    assert wait_for(serving, timeout=30, what="the engine to serve") == proc.pid
    return proc, log, handle


def _stop(cli, proc, handle):
    cli("engine", "stop")
    proc.wait(timeout=60)
    handle.close()


def test_the_cli_and_a_plain_launch_never_import_optuna(cli, tmp_path):
    assert "optuna" not in _cli_imports(cli, "--help")
    assert "optuna" not in _cli_imports(cli, "launch", "--help")
    proc, log, handle = _engine(cli, tmp_path, "plain")
    launched = _cli_imports(cli, "launch", "--", "true")
    assert "optuna" not in launched
    (run,) = cli.json("status", "--json", "--all")["runs"]
    cli.wait_state(run["id"], "succeeded")
    assert "optuna" not in _cli_imports(cli, "search", "list")
    _stop(cli, proc, handle)
    assert "core.engine.server" in log.read_text() and "optuna" not in _imported(log.read_text())

    proc, log, handle = _engine(cli, tmp_path, "search")
    assert "optuna" not in _cli_imports(cli, "launch", "--search", "random", "--objective",
                                        "loss", "--trials", "1", "--sweep", "x=1,2", "--",
                                        "echo", "loss={x}")
    _stop(cli, proc, handle)
    assert "optuna" in _imported(log.read_text()), "the engine imports it for a search"
