"""SSH targets against real OpenSSH boxes: runs, output, metrics, code transfer, GPUs, cancel."""

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from core.config import Project, SnapshotConfig
from core.errors import ExecutorError
from core.remote import pool, runfolder
from core.remote.mirror import Watch
from core.remote.settings import SshSettings
from core.store.blobs import BlobStore
from core.store.snapshot import take
from tests.helpers import process_alive, wait_for, wait_for_async


def test_a_run_on_a_box_reports_output_metrics_and_its_exit_code(lab, cli, project):
    lab.configure(lab.target("box1"))
    cli.env = {**cli.env, "RUNYARD_LOCAL_ONLY": "from-the-laptop"}
    run_id = cli.launch("sh", "-c",
                        'python3 train.py --epochs 2 --delay 0 && echo "dir=$RUNYARD_RUN_DIR" '
                        '&& echo "local=${RUNYARD_LOCAL_ONLY:-absent} e=$MY_E" && '
                        'echo \'{"from_file": 42}\' >> "$RUNYARD_METRICS"; exit 5',
                        opts=("--target", "box1", "--env", "MY_E=given"))
    done = cli.wait_state(run_id, "failed", timeout=60)
    assert done["exit_code"] == 5 and done["reason"] == "exit code 5"
    log = cli("logs", str(run_id)).stdout
    remote = lab.remote_run_dir(lab.box1, run_id)
    assert log == (remote / "output.log").read_text(), "the local log is the remote log"
    assert f"dir={remote}" in log, "the run sees its folder on the box"
    assert "local=absent e=given" in log, "--env reaches the box, the local shell's env not"
    metrics = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert len(metrics["loss"]) == 8 and len(metrics["val_loss"]) == 2   # 16 steps/epoch, every 4th
    assert metrics["from_file"] == [[32, 42]], "metrics.jsonl is mirrored and read too"
    local_file = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "metrics.jsonl"
    assert local_file.read_bytes() == (remote / "metrics.jsonl").read_bytes()
    assert (remote / "code" / "checkpoints" / "epoch2.json").exists(), "ran in its own copy"
    assert not (project / "checkpoints").exists()


def test_a_box_with_nothing_installed_gets_code_and_runs_it(lab, cli, project):
    (project / "tool.sh").write_text("#!/bin/sh\necho tool-ran\n")
    os.chmod(project / "tool.sh", 0o755)
    os.symlink("tool.sh", project / "tool-link")
    (project / "deep" / "er").mkdir(parents=True)
    (project / "deep" / "er" / "it's here.txt").write_text("quoted name\n")
    lab.configure(lab.target("box2"))
    run_id = cli.launch("sh", "-c", "./tool-link && cat \"deep/er/it's here.txt\" && "
                        "command -v tar || echo no-tar-here", opts=("--target", "box2"))
    cli.wait_state(run_id, "succeeded", timeout=60)
    assert cli("logs", str(run_id)).stdout == "tool-ran\nquoted name\nno-tar-here\n"
    code = lab.remote_run_dir(lab.box2, run_id) / "code"
    assert os.readlink(code / "tool-link") == "tool.sh"
    assert (code / "tool.sh").stat().st_mode & 0o777 == 0o755
    assert (code / "train.py").stat().st_mode & 0o777 == 0o644


def test_an_unchanged_project_is_sent_once_and_a_change_sends_one_file(lab, cli, project):
    lab.configure(lab.target("box1"))
    first = cli.launch("true", opts=("--target", "box1"))
    cli.wait_state(first, "succeeded", timeout=60)
    blobs = lab.box1.work / "blobs"
    stored = sorted(p.name for p in blobs.glob("*/*"))
    sent = lab.handle(first)["sent"]
    assert sent["blobs"] == sent["of"] == len(stored) > 0
    again = cli.launch("true", opts=("--target", "box1", "--force"))   # not a cache hit
    cli.wait_state(again, "succeeded", timeout=60)
    assert "sent" not in lab.handle(again), "the snapshot was on the box already"
    (project / "train.py").write_text((project / "train.py").read_text() + "# edited\n")
    edited = cli.launch("true", opts=("--target", "box1"))
    cli.wait_state(edited, "succeeded", timeout=60)
    assert lab.handle(edited)["sent"]["blobs"] == 1
    assert len(list(blobs.glob("*/*"))) == len(stored) + 1


def test_gpus_are_detected_on_the_box_and_never_shared(lab, cli):
    lab.configure(lab.target("box1", gpus="auto"))
    box = next(t for t in cli.json("targets", "--json")["targets"] if t["name"] == "box1")
    assert box["gpu_ids"] == [0, 1] and box["status"] == "ok"
    assert box["gpu_info"][1]["name"] == "NVIDIA A100-SXM4-80GB"
    ids = [cli.launch("sh", "-c", 'echo "gpu=$CUDA_VISIBLE_DEVICES"; sleep 30',
                      opts=("--target", "box1", "--gpus", "1")) for _ in range(3)]
    wait_for(lambda: all("gpu=" in cli("logs", str(i)).stdout for i in ids[:2]),
             timeout=60, what="two GPU runs to print their device")
    seen = {cli("logs", str(i)).stdout.strip() for i in ids[:2]}
    assert seen == {"gpu=0", "gpu=1"}
    assert cli.run(ids[2])["state"] == "queued"
    refused = cli("launch", "--target", "box1", "--gpus", "3", "--", "true", check=False)
    assert refused.returncode == 3 and "has 2 GPUs" in refused.stderr
    cli("cancel", *map(str, ids))


def test_cancel_ends_the_whole_remote_tree(lab, cli, project):
    lab.configure(lab.target("box1"), "[run]\ncancel_grace = 1\n")
    marker = str(400 + int(time.time()) % 500)
    run_id = cli.launch("sh", "-c", f"trap '' TERM; sleep {marker} & sleep {marker}.5 & "
                        "echo started; wait", opts=("--target", "box1"))
    wait_for(lambda: "started" in cli("logs", str(run_id)).stdout, timeout=60, what="start")
    pid = lab.handle(run_id)["pid"]
    cancelled = cli.json("cancel", str(run_id), "--json")["runs"][0]
    assert cancelled["state"] == "cancelled"
    wait_for(lambda: not process_alive(pid) and not _sleepers(marker), timeout=20,
             what="the remote tree to be gone")


def _sleepers(marker: str) -> list[str]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv[:1] == [b"sleep"] and argv[1:2] and argv[1].startswith(marker.encode()):
            found.append(name)
    return found


def test_a_run_that_vanishes_on_the_box_is_lost_with_the_reason(lab, cli):
    lab.configure(lab.target("box1"))
    run_id = cli.launch("sleep", "300", opts=("--target", "box1"))
    cli.wait_state(run_id, "running", timeout=60)
    wait_for(lambda: lab.handle(run_id).get("pid"), timeout=30, what="the handle")
    os.killpg(lab.handle(run_id)["pid"], signal.SIGKILL)     # what a reboot looks like
    lost = cli.wait_state(run_id, "lost", timeout=30)
    assert lost["reason"].startswith("the run's process (pid ")
    assert "on box1 ended without writing an exit status" in lost["reason"]


def test_proxy_jump_and_a_host_given_in_full(lab, cli):
    with open(lab.client.config, "a") as handle:
        handle.write(f"Host behind\n  HostName 127.0.0.1\n  Port {lab.box2.port}\n  User root\n"
                     f"  IdentityFile {lab.client.key}\n"
                     f"  UserKnownHostsFile {lab.client.known_hosts}\n  ProxyJump box1\n")
    full = {"host": f"root@127.0.0.1:{lab.box1.port}", "known_hosts": str(lab.client.known_hosts),
            "identity_file": str(lab.client.key)}
    lab.configure(lab.target("jumped", box=lab.box2, host="behind"),
                  lab.target("direct", box=lab.box1, **full).replace(
                      f'ssh_config = "{lab.client.config}"\n', ""))
    jumped = cli.launch("sh", "-c", "echo via-jump; sleep 2", opts=("--target", "jumped"))
    wait_for(lambda: "via-jump" in cli("logs", str(jumped)).stdout, timeout=60, what="output")
    assert len(lab.box1.connections()) == 1, "the jump goes through box1"
    assert len(lab.box2.connections()) == 1
    cli.wait_state(jumped, "succeeded", timeout=60)
    direct = cli.launch("echo", "direct", opts=("--target", "direct"))
    cli.wait_state(direct, "succeeded", timeout=60)
    assert cli("logs", str(direct)).stdout == "direct\n"


async def test_the_layer_a_slurm_executor_reuses(lab, tmp_path):
    """prepare_run + a watch without a process: what a job submitted with sbatch needs."""
    blobs = BlobStore(tmp_path / "blobs")
    snapshot = take(Project(lab.project, None, "", False), SnapshotConfig(), blobs, {})
    settings = SshSettings(host="box1", ssh_config=str(lab.client.config))
    box = pool.acquire(settings, str(lab.box1.work))
    try:
        prepared = await runfolder.prepare_run(box, "runs/job/7", snapshot.id, blobs,
                                               what="preparing")
        assert prepared.answer == f"READY {lab.box1.work / 'runs' / 'job' / '7'}"
        assert prepared.sent is not None and prepared.sent.blobs_sent > 0
        assert (lab.box1.work / "runs/job/7/code/train.py").read_bytes() == \
            (lab.project / "train.py").read_bytes()
        (lab.box1.work / "runs/job/7/output.log").write_text("from the job\n")
        local = tmp_path / "local.log"
        watch = pool.mirror(box).add(Watch("runs/job/7", [("output.log", local)], 0, None))
        await box.ready()
        await wait_for_async(lambda: local.exists() and local.read_text(), timeout=10,
                             what="the job's output mirrored")
        assert not watch.done.done(), "running until the status file appears"
        (lab.box1.work / "runs/job/7/exit_status").write_text("0\t\n")
        end = await asyncio.wait_for(watch.done, 30)
        assert end.status == "0\t" and not end.gone and local.read_text() == "from the job\n"
    finally:
        await pool.release(box)


def test_removing_a_box_run_deletes_its_folder_on_the_box_too(lab, cli):
    lab.configure(lab.target("box1"))
    run_id = cli.launch("sh", "-c", "echo on-the-box", opts=("--target", "box1"))
    cli.wait_state(run_id, "succeeded", timeout=60)
    remote = lab.remote_run_dir(lab.box1, run_id)
    assert (remote / "output.log").read_text() == "on-the-box\n" and (remote / "code").is_dir()
    proc = cli("rm", str(run_id))
    assert f"the folder of run {run_id} on box1 is being removed" in proc.stderr
    wait_for(lambda: not remote.exists(), timeout=60, what="the run's folder on the box to go")
    assert (lab.box1.work / "blobs").is_dir(), "the box's blob store stays"
    assert not (Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id)).exists()


async def test_a_command_that_loses_its_box_leaves_it_unreachable_not_idle(lab):
    """A command on a connection that stopped answering (its sshd frozen) drops it and says
    the box is unreachable: someone was using it right then. Before, the box went back to
    `idle` when no run was watched, so a start refused by a lost box looked like a box
    nobody needed (the executor contract saw `idle`, not `unreachable`, under load)."""
    settings = SshSettings(host="box1", ssh_config=str(lab.client.config), command_timeout=2)
    box = pool.acquire(settings, str(lab.box1.work))
    frozen: list[int] = []
    try:
        await box.ready()
        assert box.state == "ok"
        frozen = lab.box1.connections()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        with pytest.raises(ExecutorError) as lost:
            await box.run("true", what="checking")
        assert lost.value.transient, lost.value.message
        assert box.state == "unreachable", (box.state, box.message)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        await pool.release(box)
