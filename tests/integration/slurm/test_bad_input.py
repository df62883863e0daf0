"""Slurm targets given bad input: no sbatch, an unknown partition, jobs Slurm refuses, a
controller that does not answer. Each gets Slurm's own message (or says what is missing),
and nothing hangs."""

import time

from tests.helpers import free_port, wait_for


def test_without_sbatch_on_the_path_the_launch_is_refused_and_nothing_recorded(slurm, cli,
                                                                               tmp_path):
    slurm.configure(slurm.target())
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    refused = cli("launch", "--target", "cluster", "--", "true", check=False,
                  env={"PATH": str(empty)})
    assert refused.returncode == 5, refused.stderr
    assert "sbatch, squeue, scancel, sinfo not found on the engine's PATH" in refused.stderr
    assert "hint: install the Slurm client commands" in refused.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []


def test_an_unknown_partition_fails_the_run_with_slurms_message(slurm, cli):
    slurm.configure(slurm.target(partition="nope"))
    run_id = cli.launch("echo", "hi", opts=("--target", "cluster"))
    run = cli.wait_state(run_id, "failed", timeout=30)
    assert run["reason"] == ("Slurm refused the job: invalid partition specified: nope; "
                             "Batch job submission failed: Invalid partition name specified")
    assert run["reason"] in cli("logs", str(run_id)).stdout, "the log says why too"
    target = next(t for t in cli.json("targets", "--json")["targets"] if t["name"] == "cluster")
    assert target["status"] == "error"
    assert target["message"] == "Slurm has no partition 'nope' (it has: debug, short)"


def test_jobs_the_node_can_never_run_fail_with_slurms_message(slurm, cli):
    slurm.configure(slurm.target("cpus", cpus=64), slurm.target("memory", memory="1T"))
    too_many = cli.launch("true", opts=("--target", "cpus"))
    too_big = cli.launch("true", opts=("--target", "memory"))
    assert cli.wait_state(too_many, "failed", timeout=30)["reason"] == (
        "Slurm refused the job: Batch job submission failed: More processors requested than "
        "permitted")
    assert cli.wait_state(too_big, "failed", timeout=30)["reason"] == (
        "Slurm refused the job: Memory specification can not be satisfied; Batch job "
        "submission failed: Requested node configuration is not available")


def test_a_controller_that_does_not_answer_keeps_runs_queued_and_nothing_hangs(slurm, cli,
                                                                              tmp_path):
    dead = tmp_path / "slurm.conf"
    text = slurm.cluster.conf.read_text()
    port = next(line for line in text.splitlines() if line.startswith("SlurmctldPort="))
    dead.write_text(text.replace(port, f"SlurmctldPort={free_port()}"))
    cli.env["SLURM_CONF"] = str(dead)
    slurm.configure(slurm.target(command_timeout=3))
    started = time.monotonic()
    run_id = cli.launch("echo", "hi", opts=("--target", "cluster"))
    assert time.monotonic() - started < 10, "the launch itself does not wait for Slurm"
    wait_for(lambda: any(e["message"].startswith("queued again: ")
                         for e in cli.json("show", str(run_id), "--json")["events"]),
             timeout=30, what="the run to go back to the queue")
    assert cli.run(run_id)["state"] == "queued"
    target = next(t for t in cli.json("targets", "--json")["targets"] if t["name"] == "cluster")
    assert target["status"] == "unreachable", target
    assert "sbatch did not answer within 3 s" in target["message"] or \
        "Unable to contact slurm controller" in target["message"], target
    started = time.monotonic()
    assert cli.json("cancel", str(run_id), "--json")["runs"][0]["state"] == "cancelled"
    assert time.monotonic() - started < 10


def test_gpus_asked_at_launch_reach_sbatch_and_a_cluster_without_them_says_so(slurm, cli):
    slurm.configure(slurm.target(gpu_type="a100"))
    run_id = cli.launch("true", opts=("--target", "cluster", "--gpus", "2"))
    run = cli.wait_state(run_id, "failed", timeout=30)
    assert run["gpu_count"] == 2 and run["gpus"] == [], "Slurm places GPUs, runyard does not"
    assert run["reason"].startswith("Slurm refused the job: "), run
    assert "gres" in run["reason"].lower(), run
