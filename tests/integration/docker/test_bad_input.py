"""Bad input on docker targets: a clear error on the run (and target), no hang, others go on."""

from __future__ import annotations

import time

import pytest

from tests.daemons.docker_fixtures import write_targets


def _target(cli, name: str, **keys) -> None:
    lines = [f"[targets.{name}]", 'kind = "docker"']
    lines += [f"{key} = {value}" for key, value in keys.items()]
    write_targets(cli.cwd, "\n".join(lines) + "\n")


@pytest.mark.parametrize("pull", ["missing", "never"])
def test_an_image_that_is_not_there_fails_the_run_naming_it(cli, dockerd, busybox_image, pull):
    _target(cli, "box", image='"runyard-test/absent:1"', host=f'"{dockerd.url}"',
            pull=f'"{pull}"')
    began = time.monotonic()
    run_id = cli.launch("true", opts=("--target", "box"))
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert time.monotonic() - began < 30, "no hang"
    assert "image runyard-test/absent:1 is not on the Docker engine at " + dockerd.url \
        in run["reason"]
    assert ("could not be pulled" if pull == "missing" else 'pull = "never"') in run["reason"]
    assert run["reason"] in cli("logs", str(run_id)).stdout, "explained in the run's log too"


def test_an_engine_that_is_down_holds_the_run_and_marks_the_target(cli, tmp_path):
    """Like an SSH box that does not answer: the run waits in the queue (the contract test
    shows it starting once the engine is back), the target says why, others go on."""
    nowhere = f"unix://{tmp_path}/no-docker-here.sock"
    _target(cli, "box", image='"busybox"', host=f'"{nowhere}"')
    local = cli.launch("sh", "-c", "sleep 1; echo local still works")
    launched = cli("launch", "--target", "box", "--", "true")
    run_id = int(launched.stdout.strip())
    assert f"warning: cannot reach the Docker engine at {nowhere}" in launched.stderr
    assert "the run waits until the target can be reached" in launched.stderr
    assert cli.wait_state(local, "succeeded")["exit_code"] == 0
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["box"]["status"] == "unreachable" and nowhere in targets["box"]["message"]
    assert targets["box"]["queued"] == 1 and targets["local"]["status"] == "ok"
    table = cli("targets").stdout
    assert "unreachable: cannot reach the Docker engine at " + nowhere in table
    assert cli.run(run_id)["state"] == "queued"
    cli("cancel", str(run_id))
    assert cli.wait_state(run_id, "cancelled")["reason"] == "cancelled (cancelled while queued)"


@pytest.mark.parametrize("gpus, ask", [("[0]", "1"), ('"all"', "0")])
def test_a_gpu_request_on_a_host_without_gpus_fails_clearly(cli, dockerd, busybox_image, gpus,
                                                            ask):
    _target(cli, "box", image=f'"{busybox_image}"', host=f'"{dockerd.url}"', gpus=gpus)
    run_id = cli.launch("true", opts=("--target", "box", "--gpus", ask))
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert "the run asks for GPUs but the Docker engine at " + dockerd.url in run["reason"]
    assert "NVIDIA Container Toolkit" in run["reason"]
    assert not dockerd.containers("label=runyard.run", "status=created"), "nothing left behind"


def test_a_command_missing_from_the_image(cli, dockerd, busybox_image):
    _target(cli, "box", image=f'"{busybox_image}"', host=f'"{dockerd.url}"')
    run_id = cli.launch("python3", "train.py", opts=("--target", "box"))
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert run["exit_code"] == 127
    assert run["reason"] == f"command not found in image {busybox_image}: python3"


def test_a_config_mistake_names_file_key_and_expectation(cli):
    _target(cli, "box", image='"x"', host='"docker.example:2375"')
    proc = cli("launch", "--target", "box", "--", "true", check=False)
    assert proc.returncode == 4, proc.stderr
    assert f"{cli.cwd / 'runyard.toml'}: targets.box.host: expected a Docker engine address" \
        in proc.stderr


def test_gpus_flag_on_a_target_with_fixed_gpus_is_refused_clearly(cli, tmp_path):
    _target(cli, "box", image='"busybox"', host=f'"unix://{tmp_path}/d.sock"', gpus='"all"')
    proc = cli("launch", "--target", "box", "--gpus", "1", "--", "true", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "gives every run the same GPUs (gpus = 'all'), so --gpus does not apply" in proc.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []
