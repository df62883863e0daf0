"""Caching: an identical spec that already succeeded is reported, not run again."""

import json


def _count(cli) -> int:
    return len(cli.json("status", "--json", "--all")["runs"])


def test_an_identical_launch_reports_the_run_that_succeeded(cli, project):
    command = ("python3", "train.py", "--lr", "0.1", "--epochs", "1", "--delay", "0")
    first = cli.launch(*command)
    cli("wait", str(first))
    again = cli("launch", "--", *command)
    assert int(again.stdout) == first and "already succeeded" in again.stderr
    assert _count(cli) == 1
    reply = json.loads(cli("launch", "--json", "--", *command).stdout)
    assert reply["cached"] == [first] and reply["run"]["id"] == first
    assert reply["run"]["spec_key"] == cli.run(first)["spec_key"]
    forced = int(cli("launch", "--force", "--", *command).stdout)
    assert forced == first + 1 and cli.run(forced)["spec_key"] == cli.run(first)["spec_key"]
    cli("wait", str(forced))
    # Anything that makes it another run: the env, the params, the code.
    other_env = int(cli("launch", "--env", "SEED=2", "--", *command).stdout)
    other_params = int(cli("launch", "--set", "lr=0.2", "--", *command).stdout)
    (project / "train.py").write_text((project / "train.py").read_text() + "\n# edited\n")
    other_code = int(cli("launch", "--", *command).stdout)
    assert len({first, forced, other_env, other_params, other_code}) == 5
    cloned = cli("clone", str(first))                  # the newest run that succeeded
    assert int(cloned.stdout) == forced and "already succeeded" in cloned.stderr


def test_only_a_success_is_a_cache_hit(cli, tmp_path):
    gate = tmp_path / "gate"
    command = ("sh", "-c", f"[ -f {gate} ]")
    failed = cli.launch(*command)
    cli("wait", str(failed), check=False)
    retry = cli.launch(*command)
    assert retry != failed
    cli("wait", str(retry), check=False)
    gate.write_text("")
    ok = cli.launch(*command)
    cli("wait", str(ok))
    assert cli.launch(*command) == ok
