"""Docker engines on another machine: reached over TCP or over SSH (OpenSSH on loopback), the
code copied into the container, output and $RUNYARD_METRICS copied back."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.daemons import sshd
from tests.daemons.docker_fixtures import write_targets
from tests.helpers import process_alive, require, wait_for

@pytest.fixture(scope="module")
def docker_box(tmp_path_factory) -> tuple[sshd.Client, sshd.SshBox]:
    """OpenSSH on 127.0.0.1 (tests/daemons/sshd.py): the machine a Docker engine is on."""
    require(sshd.available(), "OpenSSH is needed (apt-get install openssh-server openssh-client)")
    root = tmp_path_factory.mktemp("sshd")
    client = sshd.Client(root / "client")
    box = sshd.SshBox(root, "docker-box", client.public_key).start()
    try:
        yield client, box
    finally:
        box.stop()


def _ssh_home(cli, docker_box, tmp_path, trusted: bool = True) -> None:
    """A HOME whose ~/.ssh/config names the box; the engine inherits it from the CLI."""
    client, box = docker_box
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    shutil.copy(client.key, ssh / "id_ed25519")
    os.chmod(ssh / "id_ed25519", 0o600)
    (ssh / "config").write_text(f"Host docker-box\n  HostName {box.address}\n  Port {box.port}\n"
                                f"  User root\n  IdentityFile {ssh / 'id_ed25519'}\n")
    if trusted:
        (ssh / "known_hosts").write_text(box.known_hosts_line())
    cli.env["HOME"] = str(tmp_path / "home")


def _remote(cli, image: str, host: str) -> None:
    write_targets(cli.cwd, f'[targets.remote]\nkind = "docker"\nimage = "{image}"\n'
                           f'host = "{host}"\n')


def test_tcp_engine_gets_a_copy_of_the_code_and_sends_metrics_back(cli, dockerd, python_image,
                                                                   env):
    _remote(cli, python_image, dockerd.tcp_url)
    run_id = cli.launch("python3", "train.py", "--epochs", "2", "--delay", "0.2",
                        opts=("--target", "remote"))
    run_dir = Path(env["RUNYARD_HOME"]) / "runs" / str(run_id)
    metrics_file = run_dir / "metrics.jsonl"
    wait_for(lambda: metrics_file.exists() and metrics_file.read_text().count("\n") >= 1,
             timeout=60, what="the first metrics line copied back while the run goes on")
    assert cli.run(run_id)["state"] == "running"
    run = cli.wait_state(run_id, "succeeded", timeout=120)
    assert run["exit_code"] == 0
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert not (run_dir / "code").exists(), "nothing bind-mounted: the code was copied in"
    metrics = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert [step for step, _ in metrics["val_loss"]] == [16, 32]
    assert "epoch 2 done" in cli("logs", str(run_id)).stdout


def test_ssh_engine_runs_and_reattaches_after_engine_kill(cli, dockerd, busybox_image,
                                                          docker_box, tmp_path):
    _ssh_home(cli, docker_box, tmp_path)
    _remote(cli, busybox_image, f"ssh://docker-box{dockerd.socket}")
    script = ('pwd; i=1; while [ $i -le 30 ]; do echo "n=$i"; i=$((i+1)); sleep 0.1; done; '
              'echo \'{"step": 1, "ssh": 1}\' >> "$RUNYARD_METRICS"; exit 4')
    run_id = cli.launch("sh", "-c", script, opts=("--target", "remote"))
    wait_for(lambda: "n=3\n" in cli("logs", str(run_id)).stdout, timeout=60, what="output")
    pid = cli.engine_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), what="the engine to die")
    cli("status")
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert run["exit_code"] == 4
    assert cli("logs", str(run_id)).stdout.splitlines() == \
        ["/runyard/code"] + [f"n={i}" for i in range(1, 31)]
    assert cli.json("metrics", str(run_id), "--json")["metrics"]["ssh"] == [[1, 1.0]]
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["remote"]["status"] == "ok"


def test_ssh_engine_with_an_untrusted_host_key_fails_clearly(cli, dockerd, busybox_image,
                                                             docker_box, tmp_path):
    """Like an SSH target that refuses us: the launch is refused at once (someone must act),
    with the reason and a hint; nothing is queued."""
    _ssh_home(cli, docker_box, tmp_path, trusted=False)
    _remote(cli, busybox_image, f"ssh://docker-box{dockerd.socket}")
    launched = cli("launch", "--target", "remote", "--", "true", check=False)
    assert launched.returncode == 5, launched.stderr
    assert launched.stderr.startswith("error: cannot log in to docker-box over SSH for the "
                                      "Docker engine")
    assert "hint: check `ssh HOST` works" in launched.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["remote"]["status"] == "error"
    assert "cannot log in to docker-box over SSH" in targets["remote"]["message"]
