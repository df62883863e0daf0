"""The docker target against a real Docker engine: output, exit codes, code, options, cancel."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.helpers import wait_for
from tests.daemons.docker_fixtures import write_targets


def _box(cli, dockerd, image, name="box", **extra) -> str:
    lines = [f"[targets.{name}]", 'kind = "docker"', f'image = "{image}"',
             f'host = "{dockerd.url}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    write_targets(cli.cwd, "\n".join(lines) + "\n")
    return name


def _containers_of(dockerd, env, run_id: int) -> list[str]:
    """The containers of a run of this test's store (other stores have runs with that id)."""
    store = (Path(env["RUNYARD_HOME"]) / "store-id").read_text().strip()
    return dockerd.containers(f"label=runyard.store={store}", f"label=runyard.run={run_id}")


def test_output_and_exit_code_recorded_and_container_removed(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", r"echo out; echo err >&2; printf 'raw\377\376\n'; "
                                    r"echo loss=0.5; exit 3", opts=("--target", "box"))
    run = cli.wait_state(run_id, "failed")
    assert run["exit_code"] == 3 and run["reason"] == "exit code 3"
    log = (Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "output.log").read_bytes()
    lines = log.splitlines()      # stdout and stderr are two pipes: only each keeps its order
    assert sorted(lines) == sorted([b"out", b"err", b"raw\xff\xfe", b"loss=0.5"])
    assert [line for line in lines if line != b"err"] == [b"out", b"raw\xff\xfe", b"loss=0.5"]
    assert cli.json("metrics", str(run_id), "--json")["metrics"]["loss"] == [[0, 0.5]]
    wait_for(lambda: not _containers_of(dockerd, env, run_id), what="the container to be removed")


def test_success_runs_in_the_snapshot_in_the_launch_subfolder(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image)
    (cli.cwd / "sub").mkdir()
    (cli.cwd / "sub" / "marker.txt").write_text("from the snapshot\n")
    script = "pwd; cat marker.txt; echo changed > marker.txt; echo $RUNYARD_RUN_ID $RUNYARD_TARGET"
    run_id = cli.launch("sh", "-c", script, opts=("--target", "box"), cwd=cli.cwd / "sub")
    (cli.cwd / "sub" / "marker.txt").write_text("edited after launch\n")
    assert cli.wait_state(run_id, "succeeded")["exit_code"] == 0
    assert cli("logs", str(run_id)).stdout.splitlines() == [
        "/runyard/code/sub", "from the snapshot", f"{run_id} box"]
    home = Path(env["RUNYARD_HOME"])
    assert (home / "runs" / str(run_id) / "code" / "sub" / "marker.txt").read_text() == "changed\n"
    again = cli("clone", str(run_id)).stdout.strip()
    cli.wait_state(int(again), "succeeded")
    assert "from the snapshot" in cli("logs", again).stdout, "the store was not changed"


def test_keep_leaves_the_container_with_run_and_store_labels(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image, keep="true")
    run_id = cli.launch("true", opts=("--target", "box"))
    cli.wait_state(run_id, "succeeded")
    [container] = _containers_of(dockerd, env, run_id)
    info = dockerd.inspect(container)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert info["Config"]["Labels"]["runyard.target"] == "box"


def test_target_options_reach_the_container(cli, dockerd, busybox_image, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("mounted\n")
    _box(cli, dockerd, busybox_image, mounts=f'["{data}:/data:ro"]', env='{ FROM_TARGET = "t" }',
         user='"1234:1234"', network='"none"', shm_size='"64MB"')
    script = ("cat /data/hello.txt; echo $FROM_TARGET $FROM_RUN; id -u; "
              "df -k /dev/shm | tail -1 | awk '{print $2}'; ls /sys/class/net; "
              "{ echo x > /data/new; } 2>/dev/null || echo read-only; "
              'echo \'{"step": 1, "score": 7}\' >> "$RUNYARD_METRICS"; touch written-here')
    run_id = cli.launch("sh", "-c", script, opts=("--target", "box", "--env", "FROM_RUN=r"))
    cli.wait_state(run_id, "succeeded")
    assert cli("logs", str(run_id)).stdout.splitlines() == [
        "mounted", "t r", "1234", str(64 * 1000 * 1000 // 1024), "lo", "read-only"]
    assert cli.json("metrics", str(run_id), "--json")["metrics"]["score"] == [[1, 7.0]]


def test_docker_host_from_the_environment(cli, dockerd, busybox_image):
    write_targets(cli.cwd, f'[targets.box]\nkind = "docker"\nimage = "{busybox_image}"\n')
    cli.env["DOCKER_HOST"] = dockerd.url
    run_id = cli.launch("echo", "via DOCKER_HOST", opts=("--target", "box"))
    cli.wait_state(run_id, "succeeded")
    assert cli("logs", str(run_id)).stdout == "via DOCKER_HOST\n"


def test_cancel_stops_with_grace_then_kills_a_process_ignoring_sigterm(cli, dockerd,
                                                                     busybox_image, env):
    _box(cli, dockerd, busybox_image)
    config = cli.cwd / "runyard.toml"
    config.write_text(config.read_text() + "\n[run]\ncancel_grace = 2\n")
    stubborn = cli.launch("sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done",
                          opts=("--target", "box"))
    polite = cli.launch("sleep", "300", opts=("--target", "box"))
    wait_for(lambda: "ready" in cli("logs", str(stubborn)).stdout, what="the stubborn run")
    cli.wait_state(polite, "running")
    wait_for(lambda: all(_containers_of(dockerd, env, i) for i in (polite, stubborn)),
             what="both containers")
    began = time.monotonic()
    cli("cancel", str(polite))
    run = cli.wait_state(polite, "cancelled")
    assert run["exit_code"] == 143 and time.monotonic() - began < 2, "SIGTERM ends it at once"
    began = time.monotonic()
    cli("cancel", str(stubborn))
    run = cli.wait_state(stubborn, "cancelled")
    assert time.monotonic() - began >= 2, "the grace period was given"
    assert run["exit_code"] == 137 and "SIGKILL" in run["reason"]
    wait_for(lambda: not any(_containers_of(dockerd, env, i) for i in (polite, stubborn)),
             what="containers removed")


def test_python_training_example_in_a_container(cli, dockerd, python_image, env):
    _box(cli, dockerd, python_image)
    run_id = cli.launch("python3", "train.py", "--epochs", "2", "--delay", "0",
                        opts=("--target", "box"))
    run = cli.wait_state(run_id, "succeeded", timeout=120)
    assert run["params"] == {"epochs": 2, "delay": 0}
    metrics = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert {"loss", "acc", "val_loss", "epoch", "val_acc"} <= set(metrics)
    assert [step for step, _ in metrics["val_loss"]] == [16, 32]
    run_dir = Path(env["RUNYARD_HOME"]) / "runs" / str(run_id)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2], "$RUNYARD_METRICS mounted"
    code = run_dir / "code"
    assert sorted(p.name for p in (code / "checkpoints").iterdir()) == ["epoch1.json",
                                                                       "epoch2.json"]
    assert not (cli.cwd / "checkpoints").exists()


def test_fast_writers_output_arrives_whole(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image)
    runs = [cli.launch("sh", "-c", "seq 1 30000; seq 1 500 >&2", opts=("--target", "box"))
            for _ in range(4)]
    expected = sorted([str(i) for i in range(1, 30001)] + [str(i) for i in range(1, 501)])
    for run_id in runs:
        cli.wait_state(run_id, "succeeded", timeout=60)
        log = Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "output.log"
        assert sorted(log.read_text().splitlines()) == expected
