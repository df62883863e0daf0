"""Bad input gets a clear error and a non-zero exit, launches nothing and changes nothing."""

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
    (("launch", "--bogus", "--", "true"), 2, "unrecognized arguments"),
    (("launch", "--gpus", "9" * 30, "--", "true"), 2, "gpus: expected an integer"),
    (("launch", "--retry-delay", "nan", "--", "true"), 2, "retry_delay: expected a finite"),
    (("launch", "--after", "9" * 30, "--", "true"), 2, "after: expected a list of run ids"),
    (("launch", "--debounce", "inf", "--watch", ".", "--", "true"), 2,
     "debounce: expected a finite number"),
    (("status", "--state", "weird"), 2, "invalid choice"),
])
def test_bad_input_is_refused_and_changes_nothing(cli, env, baseline, args, code, needle):
    proc = cli(*args, check=False)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert store_fingerprint(env) == baseline


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
