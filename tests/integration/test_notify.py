"""Notification hooks: the run as JSON on stdin; failures become events; quiet by default.

No desktop exists here: `notify-send` is a stand-in script on PATH that records its
arguments (the double of a desktop notification daemon that cannot run here).
"""

import json
import os

from tests.helpers import wait_for


def _events(cli, run_id):
    return [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]


def test_hooks_get_the_run_as_json_and_the_desktop_hears_of_failures(cli, project, tmp_path):
    finished, failed, desktop = tmp_path / "finished", tmp_path / "failed", tmp_path / "desktop"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "notify-send").write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {desktop}\necho >> {desktop}\n')
    os.chmod(stubs / "notify-send", 0o755)
    (project / "runyard.toml").write_text(
        f'[notify]\non_finish = "cat >> {finished}; echo >> {finished}"\n'
        f'on_fail = ["sh", "-c", "cat > {failed}; echo $RUNYARD_RUN_STATE >> {failed}"]\n'
        'desktop = "fail"\n')
    path = {"PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    ok = cli.launch("sh", "-c", "echo acc=0.9", env=path)
    bad = cli.launch("sh", "-c", "exit 4", env=path)
    cli("wait", str(ok), str(bad), check=False)
    wait_for(lambda: finished.exists() and len(finished.read_text().split("\n\n")) >= 2
             and failed.exists() and desktop.exists(), what="the hooks to run")
    payloads = [json.loads(chunk) for chunk in finished.read_text().split("\n") if chunk.strip()]
    assert sorted((p["event"], p["run"]["id"], p["run"]["state"]) for p in payloads) == \
        [("on_finish", ok, "succeeded"), ("on_finish", bad, "failed")]
    assert payloads[0]["schema"] == 1 and "metrics" in payloads[0]["run"]
    body, state = failed.read_text().rstrip("\n").rsplit("\n", 1)
    assert json.loads(body)["run"]["id"] == bad and state == "failed"
    (line,) = desktop.read_text().splitlines()
    assert f"runyard: run {bad}" in line and "exit code 4" in line and "--urgency=critical" in line


def test_a_failing_hook_is_an_event_and_never_hurts_the_engine(cli, project):
    (project / "runyard.toml").write_text(
        '[notify]\non_finish = "echo nope >&2; exit 3"\non_fail = ["/no/such/hook"]\n')
    bad = cli.launch("sh", "-c", "exit 1")
    cli("wait", str(bad), check=False)
    wait_for(lambda: len([m for m in _events(cli, bad) if "hook failed" in m]) == 2,
             what="both hook failures recorded")
    messages = _events(cli, bad)
    assert "on_finish hook failed: exit code 3: nope" in messages
    assert any(m.startswith("on_fail hook failed: cannot start /no/such/hook") for m in messages)
    (project / "runyard.toml").write_text('[notify]\non_finish = "sleep 30"\ntimeout = 0.3\n')
    slow = cli.launch("true")
    cli("wait", str(slow))
    wait_for(lambda: "on_finish hook failed: timed out after 0.3 s (killed)" in _events(cli, slow),
             what="the hook timeout recorded")
    assert cli.engine_pid()
    assert cli("wait", str(cli.launch("echo", "still fine"))).returncode == 0


def test_bad_notify_config_is_reported(cli, project):
    (project / "runyard.toml").write_text('[notify]\non_finish = 3\n')
    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 4 and "notify.on_finish: expected a shell command" in proc.stderr
