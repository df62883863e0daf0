"""Slurm over SSH: a real OpenSSH sshd on loopback plays the login node, where sbatch reaches
the test cluster (it is the same machine, so WORK is "shared" with the node)."""

import os
import signal

from tests.helpers import process_alive, wait_for
from tests.daemons.ssh_fixtures import FULL_PATH


def _login(lab, slurm):
    """A box whose sessions find sbatch and the test cluster, and a slurm target using it."""
    box = lab.add_box("login", path_env=FULL_PATH, set_env=slurm.cluster.env)
    table = lab.target("login").replace('kind = "ssh"', 'kind = "slurm"').replace(
        "[targets.login]", "[targets.cluster]").replace('gpus = "none"\n', "")
    return box, table + 'partition = "debug"\n'


def test_a_run_is_submitted_on_the_login_node_and_its_output_mirrored(lab, slurm, cli, project):
    box, table = _login(lab, slurm)
    lab.configure(table)
    run_id = cli.launch("sh", "-c", 'python3 train.py --epochs 1 --delay 0 && '
                        'echo "dir=$RUNYARD_RUN_DIR job=$SLURM_JOB_ID" && '
                        'echo \'{"from_file": 5}\' >> "$RUNYARD_METRICS"; exit 6',
                        opts=("--target", "cluster"))
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert run["exit_code"] == 6 and run["reason"] == "exit code 6"
    handle = lab.handle(run_id)
    remote = box.work / handle["run_dir"]
    log = cli("logs", str(run_id)).stdout
    assert log == (remote / "output.log").read_text(), "the local log is the remote log"
    assert f"dir={remote} job={handle['job']}\n" in log
    metrics = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert metrics["from_file"] and metrics["loss"]
    assert handle["sent"]["blobs"] == handle["sent"]["of"] > 0, "code went to the box's store"
    assert (remote / "code" / "checkpoints" / "epoch1.json").exists()
    assert slurm.cluster.job_field(handle["job"], "JobState") == "FAILED"


def test_runs_queued_while_the_login_node_is_down_go_as_one_array(lab, slurm, cli):
    box, table = _login(lab, slurm)
    lab.configure(table)
    box.stop()
    launched = [cli("launch", "--target", "cluster", "--", "sh", "-c", f"echo member {i}")
                for i in range(2)]
    assert all("the run waits until the target can be reached" in p.stderr for p in launched)
    ids = [int(p.stdout) for p in launched]
    box.start()
    cli("targets")             # tries the box at once (the engine's own backoff is up to 30 s)
    for run_id in ids:
        cli.wait_state(run_id, "succeeded", timeout=90)
    jobs = [lab.handle(i)["job"] for i in ids]
    array = lab.handle(ids[0])["array"]
    assert jobs == [f"{array}_0", f"{array}_1"]
    assert [cli("logs", str(i)).stdout for i in ids] == ["member 0\n", "member 1\n"]


def test_remote_jobs_are_followed_after_an_engine_kill_and_can_be_cancelled(lab, slurm, cli,
                                                                          tmp_path):
    box, table = _login(lab, slurm)
    lab.configure(table, "[run]\ncancel_grace = 2\n")
    go = tmp_path / "go"
    first = cli.launch("sh", "-c", f"echo before; while [ ! -f {go} ]; do sleep 0.1; done; "
                       "echo after; exit 4", opts=("--target", "cluster"))
    second = cli.launch("sh", "-c", "trap 'echo bye; exit 3' TERM; echo up; sleep 300 & wait",
                        opts=("--target", "cluster"))
    for run_id, word in ((first, "before"), (second, "up")):
        wait_for(lambda: word in cli("logs", str(run_id)).stdout, timeout=60, what=word)
    engine = cli.engine_pid()
    os.kill(engine, signal.SIGKILL)
    wait_for(lambda: not process_alive(engine), timeout=10, what="the engine to die")
    go.write_text("")
    done = cli.wait_state(first, "failed", timeout=60)
    assert done["exit_code"] == 4
    assert cli("logs", str(first)).stdout == "before\nafter\n", "no gap, no repeat"
    cancelled = cli.json("cancel", str(second), "--json")["runs"][0]
    assert cancelled["state"] == "cancelled"
    assert cli.run(second)["exit_code"] == 3
    lines = cli("logs", str(second)).stdout.splitlines()
    assert lines[0] == "up" and lines[-1] == "bye", lines
    assert any("CANCELLED AT" in line for line in lines), "Slurm's own note is mirrored too"
    assert slurm.cluster.job_field(lab.handle(second)["job"], "JobState") in ("FAILED",
                                                                             "CANCELLED")


def test_a_login_node_without_sbatch_refuses_the_launch(lab, slurm, cli):
    table = lab.target("box2").replace('kind = "ssh"', 'kind = "slurm"').replace(
        'gpus = "none"\n', "")
    lab.configure(table)
    refused = cli("launch", "--target", "box2", "--", "true", check=False)
    assert refused.returncode == 5, refused.stderr
    assert ("box2: sbatch, squeue, scancel, sinfo not found on the PATH of a non-interactive "
            "login there") in refused.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []
