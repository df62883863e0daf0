"""Bad input gets a clear error and a non-zero exit, launches nothing and changes nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import store_fingerprint


@pytest.fixture
def baseline(cli, env):
    cli("wait", str(cli.launch("true")))
    return store_fingerprint(env)


@pytest.mark.parametrize("args, code, needle", [
    (("show", "999"), 3, "no run with id 999"),
    (("logs", "abc"), 3, "'abc' is not a run id"),
    (("cancel", "999"), 3, "no run with id 999"),
    (("clone", "999"), 3, "no run with id 999"),
    (("wait", "999"), 3, "no run with id 999"),
    (("launch", "--target", "nowhere", "--", "true"), 3, "no target named 'nowhere'"),
    (("launch", "--gpus", "2", "--", "true"), 3, "has 0 GPUs; the run asks for 2"),
    (("launch", "--gpus", "-1", "--", "true"), 2, "--gpus -1: expected 0 or more"),
    (("launch", "--set", "lr", "--", "true"), 2, "--set 'lr': expected KEY=VALUE"),
    (("launch",), 2, "nothing to launch"),
    (("launch",), 2, "tui launch -- python3 train.py"),    # stock Debian has no `python`
    (("launch", "--bogus", "--", "true"), 2, "unrecognized arguments"),
    (("launch", "--gpus", "9" * 30, "--", "true"), 2, "gpus: expected an integer"),
    (("launch", "--retry-delay", "nan", "--", "true"), 2, "retry_delay: expected a finite"),
    (("launch", "--after", "9" * 30, "--", "true"), 2, "after: expected a list of run ids"),
    (("launch", "--debounce", "inf", "--watch", ".", "--", "true"), 2,
     "debounce: expected a finite number"),
    (("status", "--state", "weird"), 2, "invalid choice"),
    (("show", "9" * 20), 3, "no run with id " + "9" * 20),             # past SQLite's 2^63
    (("cancel", str(2 ** 63)), 3, f"no run with id {2 ** 63}"),
    (("wait", str(2 ** 64)), 3, f"no run with id {2 ** 64}"),
    (("logs", "0"), 3, "no run with id 0"),
    (("metrics", "1", "--key", "nope"), 2, "run 1 has no metric 'nope'"),
    (("logs", "1", "--tail", "-3"), 2, "--tail -3: expected 0 or more lines"),
    (("status", "--group", "99"), 3, "no group 99"),
    (("status", "--group", "99", "--json"), 3, "no group 99"),
])
def test_bad_input_is_refused_and_changes_nothing(cli, env, baseline, args, code, needle):
    proc = cli(*args, check=False)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert store_fingerprint(env) == baseline


@pytest.mark.parametrize("args, needle, hint", [
    (("statsu",), "invalid choice: 'statsu'", "did you mean `tui status`?"),
    (("status", "--bogus"), "unrecognized arguments: --bogus", "`tui status --help`"),
    (("--home", "h", "status", "--bogus"), "unrecognized arguments", "`tui status --help`"),
    (("logs",), "the following arguments are required: id", "`tui logs --help`"),
    (("status", "--state", "weird"), "invalid choice: 'weird'", "`tui status --help`"),
    (("logs", "1", "--tail", "x"), "invalid int value: 'x'", "`tui logs --help`"),
    (("launch", "--samples", "0", "--sweep", "lr=log(1e-4,1e-1)", "--", "true"),
     "--samples 0: expected 1 to", "--samples N draws N runs"),
    (("launch", "--retries", "-1", "--", "true"), "--retries -1: expected 0 to 100",
     "--retries N runs a failed run again"),
])
def test_a_bad_flag_or_command_gets_one_line_and_a_hint(cli, args, needle, hint):
    """argparse's own error printed its usage block and no hint, and named `tui` (not the
    subcommand) for a subcommand's unknown flag."""
    proc = cli(*args, check=False)
    assert proc.returncode == 2
    error, hint_line = proc.stderr.splitlines()
    assert error.startswith("error: ") and needle in error
    assert hint_line.startswith("hint: ") and hint in hint_line


def test_a_key_a_running_run_has_not_printed_yet_is_no_error(cli):
    # Scripts poll `tui metrics ID --key val_loss --json` while a run goes: no points yet,
    # not exit 2 (that is for an ended run, whose metrics are all there).
    run_id = cli.launch("sleep", "30")
    cli.wait_state(run_id, "running")
    proc = cli("metrics", str(run_id), "--key", "val_loss", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"schema": 1, "run": run_id, "metrics": {}}
    cli("cancel", str(run_id))


def test_malformed_config_names_file_and_key(cli, env, project, baseline):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 'many'\n")
    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 4
    assert f"{project / 'runyard.toml'}: targets.local.max_parallel: expected a positive integer" in proc.stderr
    (project / "runyard.toml").write_text("[targets.local\n")
    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 4 and "invalid TOML" in proc.stderr and "line 1" in proc.stderr
    assert store_fingerprint(env) == baseline


def test_malformed_user_config_is_reported_too(cli, env, baseline):
    user = Path(env["XDG_CONFIG_HOME"]) / "runyard" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[snapshot]\nexclude = 3\n")
    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 4 and f"{user}: snapshot.exclude: expected a list" in proc.stderr
    assert store_fingerprint(env) == baseline


def test_listing_an_empty_store_is_not_an_error(cli):
    assert cli.json("status", "--json") == {"schema": 1, "runs": [], "groups": []}
    assert cli("status").returncode == 0


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_cancel_grace_that_is_not_a_finite_number_is_a_config_error(cli, env, project,
                                                                      baseline, value):
    (project / "runyard.toml").write_text(f"[run]\ncancel_grace = {value}\n")
    proc = cli("launch", "--", "sleep", "1", check=False)
    assert proc.returncode == 4, proc.stderr
    assert "run.cancel_grace: expected a number of seconds (0 or more, finite)" in proc.stderr
    assert store_fingerprint(env) == baseline


def test_a_workflow_files_retry_delay_nan_is_refused(cli, env, project, baseline):
    (project / "flow.toml").write_text('command = "true"\nretries = 1\nretry_delay = nan\n')
    proc = cli("launch", "--file", "flow.toml", check=False)
    assert proc.returncode == 2 and "retry_delay: expected a finite number" in proc.stderr, \
        proc.stderr
    assert "Traceback" not in proc.stderr and store_fingerprint(env) == baseline


def test_launching_from_a_folder_that_was_deleted_says_so(cli, env, project, tmp_path, baseline):
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(["sh", "-c", 'cd "$1" && rmdir "$1" && exec "$2" -m tui launch -- true',
                           "sh", str(gone), sys.executable], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "error: the current folder no longer exists (it was deleted or moved)" in proc.stderr
    assert "hint: cd into an existing folder" in proc.stderr and "Traceback" not in proc.stderr
    assert store_fingerprint(env) == baseline


def test_bytes_that_are_not_utf8_in_names_folders_commands_and_files_simply_work(cli, env,
                                                                                 project):
    """A folder, a file, --name and an argument holding \\xe9 / \\xff (Latin-1 names on a
    UTF-8 system): the launch works, the run runs in exactly that folder, sees exactly that
    file and gets exactly that argument, and every listing prints it escaped."""
    import time
    from tests.helpers import wait_for
    folder = project / "donn\udce9es"                       # b"donn\xe9es"
    folder.mkdir()
    (folder / "r\udce9sum\udce9.txt").write_text("contents\n")
    wait_for(lambda: time.time() - (folder / "r\udce9sum\udce9.txt").stat().st_ctime > 2.2,
             timeout=10, what="the file to be old enough for the hash cache")
    script = 'pwd; ls; printf "%s\\n" "$1"'
    run_id = int(cli("launch", "--name", "caf\udce9", "--", "sh", "-c", script, "sh",
                     "arg\udcff", cwd=folder).stdout)
    cli("wait", str(run_id))
    log = Path(env["RUNYARD_HOME"], "runs", str(run_id), "output.log").read_bytes()
    assert log.split(b"\n")[0].endswith(b"/code/donn\xe9es"), log
    assert b"r\xe9sum\xe9.txt\n" in log and log.endswith(b"arg\xff\n"), log
    shown = cli("show", str(run_id)).stdout
    assert "caf\\xe9" in shown and "donn\\xe9es" in shown and "arg\\xff" in shown
    assert cli("status").returncode == 0
    data = cli.run(run_id)
    assert (data["state"], data["name"]) == ("succeeded", "caf\\xe9")
    assert data["command"][-1] == "arg\udcff", "the argument is kept exactly"
    again = int(cli("clone", str(run_id), "--code", "current", "--force").stdout)
    cli("wait", str(again))
    log = Path(env["RUNYARD_HOME"], "runs", str(again), "output.log").read_bytes()
    assert log.split(b"\n")[0].endswith(b"/code/donn\xe9es"), "a clone runs there too"
