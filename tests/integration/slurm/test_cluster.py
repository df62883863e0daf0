"""Slurm targets against a real single-node cluster: submission, output, exit codes, pending
reasons, cancel, job arrays, and following jobs across an engine kill -9."""

import os
import signal
from pathlib import Path

from core.paths import StorePaths
from tests.daemons.slurm import NODE_CPUS, SlurmCluster
from tests.daemons.slurm_fixtures import SlurmLab
from tests.helpers import process_alive, wait_for
from tests.tui.apps import make_app, until, widget_text


def test_a_run_becomes_a_job_with_its_output_metrics_and_exit_code(slurm, cli, project):
    slurm.configure(slurm.target(cpus=1, memory="100M"))
    cli.env = {**cli.env, "FROM_THE_SHELL": "yes"}
    run_id = cli.launch("sh", "-c", 'python3 train.py --epochs 1 --delay 0 && '
                        'echo "job=$SLURM_JOB_ID shell=$FROM_THE_SHELL e=$MY_E pwd=$PWD" && '
                        'echo \'{"from_file": 7}\' >> "$RUNYARD_METRICS"; exit 3',
                        opts=("--target", "cluster", "--env", "MY_E=given"))
    done = cli.wait_state(run_id, "failed", timeout=60)
    assert done["exit_code"] == 3 and done["reason"] == "exit code 3"
    assert done["detail"] is None, "a run that ended has no live detail"
    job = slurm.job(run_id)
    assert job.isdigit()
    log = cli("logs", str(run_id)).stdout
    run_dir = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id)
    assert f"job={job} shell=yes e=given pwd={run_dir / 'code'}\n" in log, log
    assert "epoch=1" in log
    metrics = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert metrics["from_file"] and len(metrics["loss"]) > 0
    assert slurm.cluster.job_field(job, "JobState") == "FAILED"
    assert slurm.cluster.job_field(job, "ExitCode") == "3:0"
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert any(m.startswith(f"Slurm: job {job} ") for m in events), events
    assert (run_dir / "code" / "checkpoints" / "epoch1.json").exists(), "ran in its own copy"
    assert not (project / "checkpoints").exists()

    ok = cli.launch("sh", "-c", "echo fine", opts=("--target", "cluster"))
    assert cli.wait_state(ok, "succeeded", timeout=60)["exit_code"] == 0
    assert cli("logs", str(ok)).stdout == "fine\n"


def test_a_pending_reason_is_shown_and_a_pending_job_can_be_cancelled(slurm, cli):
    slurm.configure(slurm.target(sbatch_options=["--begin=now+1hour"]))
    run_id = cli.launch("echo", "never", opts=("--target", "cluster"))
    run = wait_for(lambda: (r := cli.run(run_id))["detail"] and "pending" in r["detail"] and r,
                   timeout=30, what="the pending reason")
    job = slurm.job(run_id)
    assert run["state"] == "running" and run["detail"] == f"job {job} pending (BeginTime)"
    table = cli("status").stdout
    assert f"▶ job {job} pending (BeginTime)" in table, table
    shown = cli("show", str(run_id)).stdout
    assert f"state      ▶ running, job {job} pending (BeginTime)" in shown, shown
    assert f"Slurm: job {job} pending (BeginTime)" in shown, "the history has it"
    cancelled = cli.json("cancel", str(run_id), "--json")["runs"][0]
    assert cancelled["state"] == "cancelled"
    assert slurm.cluster.job_field(job, "JobState") == "CANCELLED"
    assert cli.run(run_id)["reason"] == "cancelled (Slurm: job cancelled)"
    assert cli("logs", str(run_id)).stdout == "", "it never ran"


def test_a_full_node_makes_a_run_wait_for_resources_until_cancel_frees_it(slurm, cli):
    # The big run leaves one CPU free (the time-limited run may hold it); the other asks for 2.
    slurm.configure(slurm.target(cpus=NODE_CPUS - 1), slurm.target("pair", cpus=2),
                    extra="[run]\ncancel_grace = 2\n")
    big = cli.launch("sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo started; "
                     "sleep 300 & wait", opts=("--target", "cluster"))
    wait_for(lambda: "started" in cli("logs", str(big)).stdout, timeout=30, what="a start")
    wait_for(lambda: (cli.run(big)["detail"] or "").startswith(
        f"job {slurm.job(big)} running on {slurm.cluster.host}"), timeout=10, what="running")
    waiting = cli.launch("echo", "my turn", opts=("--target", "pair"))
    wait_for(lambda: (cli.run(waiting)["detail"] or "").endswith("pending (Resources)"),
             timeout=30, what="a run waiting for resources")
    ended = cli.json("cancel", str(big), "--json")["runs"][0]
    assert ended["state"] == "cancelled"
    run = cli.run(big)
    assert run["exit_code"] == 9 and run["reason"] == "cancelled (received SIGTERM)", run
    assert "got TERM" in cli("logs", str(big)).stdout, "SIGTERM first, so it could clean up"
    cli.wait_state(waiting, "succeeded", timeout=60)
    assert cli("logs", str(waiting)).stdout == "my turn\n"


def test_queued_runs_that_start_together_are_one_job_array(slurm, cli, project):
    slurm.configure(slurm.target(max_parallel=1))
    blocker = cli.launch("sleep", "300", opts=("--target", "cluster"))
    cli.wait_state(blocker, "running")
    ids = [cli.launch("sh", "-c", f'echo "member {i} task=$SLURM_ARRAY_TASK_ID loss=0.{i}"; '
                      f"exit {i}", opts=("--target", "cluster")) for i in range(3)]
    assert all(cli.run(i)["state"] == "queued" for i in ids)
    slurm.configure(slurm.target(max_parallel=8))
    cli("targets")                              # the engine learns the new limit
    cli("cancel", str(blocker))                 # a slot frees: the three start together
    runs = [cli.wait_state(i, "succeeded", "failed", timeout=60) for i in ids]
    handles = [slurm.handle(i) for i in ids]
    array = handles[0]["array"]
    assert [h["job"] for h in handles] == [f"{array}_{i}" for i in range(3)], handles
    assert [r["exit_code"] for r in runs] == [0, 1, 2]
    assert [r["state"] for r in runs] == ["succeeded", "failed", "failed"]
    for i, run_id in enumerate(ids):
        assert cli("logs", str(run_id)).stdout == f"member {i} task={i} loss=0.{i}\n"
        assert cli.json("metrics", str(run_id), "--json")["metrics"]["loss"] == [[0, i / 10]]
        assert slurm.cluster.job_field(f"{array}_{i}", "ArrayJobId") == array


def test_jobs_are_followed_again_after_the_engine_is_killed(slurm, cli, tmp_path):
    slurm.configure(slurm.target())
    go = tmp_path / "go"
    running = cli.launch("sh", "-c", f"echo before; while [ ! -f {go} ]; do sleep 0.1; done; "
                         "echo after; exit 4", opts=("--target", "cluster"))
    wait_for(lambda: "before" in cli("logs", str(running)).stdout, timeout=30, what="a start")
    held = cli.launch("echo", "later", opts=("--target", "cluster", "--env", "X=1"))
    cli.wait_state(held, "succeeded", timeout=30)
    pending_target = slurm.target("later", sbatch_options=["--hold"])
    slurm.configure(slurm.target(), pending_target)
    pending = cli.launch("echo", "released", opts=("--target", "later"))
    wait_for(lambda: (cli.run(pending)["detail"] or "").endswith("pending (JobHeldUser)"),
             timeout=30, what="a held job")
    engine = cli.engine_pid()
    os.kill(engine, signal.SIGKILL)
    wait_for(lambda: not process_alive(engine), timeout=10, what="the engine to die")
    go.write_text("")
    slurm.cluster.run("scontrol", "release", slurm.job(pending))
    done = cli.wait_state(running, "failed", timeout=60)       # the CLI revives the engine
    assert cli.engine_pid() not in (None, engine)
    assert done["exit_code"] == 4
    assert cli("logs", str(running)).stdout == "before\nafter\n"
    cli.wait_state(pending, "succeeded", timeout=60)
    assert cli("logs", str(pending)).stdout == "released\n"
    messages = [e["message"] for e in cli.json("show", str(running), "--json")["events"]]
    assert "reattached after an engine restart" in messages



def test_a_node_that_fails_makes_its_run_lost(slurm_cluster, env, cli, tmp_path):
    own = SlurmCluster(tmp_path / "own-cluster").start()    # taking a node down is not shared
    try:
        env.update(own.env)
        lab = SlurmLab(own, cli.cwd, env)
        lab.configure(lab.target())
        run_id = cli.launch("sh", "-c", "echo up; sleep 300", opts=("--target", "cluster"))
        wait_for(lambda: "up" in cli("logs", str(run_id)).stdout, timeout=30, what="a start")
        own.run("scontrol", "update", f"nodename={own.host}", "state=down", "reason=test")
        run = cli.wait_state(run_id, "lost", timeout=60)
        assert run["reason"] == f"Slurm: node failure ({own.host}); job {lab.job(run_id)} " \
                                "ended with it"
        assert own.job_field(lab.job(run_id), "JobState") == "NODE_FAIL"
    finally:
        own.cancel_all()
        own.stop()


def test_a_sweep_to_one_slurm_target_is_one_job_array(slurm, cli):
    slurm.configure(slurm.target(max_parallel=8))
    out = cli("launch", "--target", "cluster", "--sweep", "lr=0.1,0.01,0.001", "--",
              "sh", "-c", 'echo "lr={lr} task=$SLURM_ARRAY_TASK_ID"').stdout.split()
    ids = [int(i) for i in out]
    runs = [cli.wait_state(i, "succeeded", timeout=60) for i in ids]
    assert len({r["group"] for r in runs}) == 1, "one sweep"
    handles = [slurm.handle(i) for i in ids]
    array = handles[0]["array"]
    assert sorted(h["job"] for h in handles) == [f"{array}_{i}" for i in range(3)], handles
    assert sorted(cli("logs", str(i)).stdout for i in ids) == sorted(
        f"lr={lr} task={h['job'].split('_')[1]}\n"
        for lr, h in zip(("0.1", "0.01", "0.001"), handles))


async def test_the_app_shows_a_pending_reason(slurm, cli, env, project, monkeypatch):
    slurm.configure(slurm.target(sbatch_options=["--begin=now+1hour"]))
    run_id = cli.launch("echo", "never", opts=("--target", "cluster"))
    job = wait_for(lambda: "pending" in (cli.run(run_id)["detail"] or "") and slurm.job(run_id),
                   timeout=30, what="the pending reason")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(project)
    app = make_app(StorePaths(Path(env["RUNYARD_HOME"])))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: run_id in app.screen.table.rows, what="the run listed")
        app.screen.table.select_run(run_id)
        header = app.screen.query_one("#detail-header")
        await until(pilot, lambda: f"job {job} pending (BeginTime)" in widget_text(header),
                    what="the pending reason in the app")
    cli("cancel", str(run_id))
