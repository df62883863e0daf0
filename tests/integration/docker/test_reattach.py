"""Docker runs outlive runyard's engine and restarts of the Docker engine, with no gap and no
duplicate in their output, and whatever happened while nobody watched is recorded."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from core.executors.docker.executor import DOWN_PAUSE
from core.models import epoch_from_iso

from tests.helpers import process_alive, wait_for
from tests.daemons.docker_fixtures import write_targets

COUNT = 'i=1; while [ $i -le {n} ]; do echo "step=$i loss=$i"; i=$((i+1)); sleep {pause}; done'
# Counts until the test creates `stop` in the run's (bind-mounted) code folder: Docker may
# lose what a container writes while dockerd is down if the container also ends before
# dockerd is back (seen with Docker 20.10), so these runs outlive the Docker restart.
COUNT_UNTIL_STOP = ('i=1; while [ $i -le {n} ] || [ ! -e stop ]; do echo "step=$i loss=$i"; '
                    'i=$((i+1)); sleep 0.1; done')


def _box(cli, dockerd, image) -> None:
    write_targets(cli.cwd, f'[targets.box]\nkind = "docker"\nimage = "{image}"\n'
                           f'host = "{dockerd.url}"\n')


def _kill_engine(cli) -> None:
    pid = cli.engine_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), what="the engine to die")


def _container(dockerd, env, run_id: int) -> str:
    store = (Path(env["RUNYARD_HOME"]) / "store-id").read_text().strip()
    [ident] = wait_for(lambda: dockerd.containers(f"label=runyard.store={store}",
                                                  f"label=runyard.run={run_id}"),
                       what=f"the container of run {run_id}")
    return ident


def _state(dockerd, ident: str) -> dict:
    return dockerd.inspect(ident)["State"]


def _assert_counted(cli, run_id: int, n: int | None) -> None:
    """Lines `step=1 loss=1` to `step=n loss=n` (n: as many as there are, at least one)."""
    lines = cli("logs", str(run_id)).stdout.splitlines()
    n = n or len(lines)
    assert lines == [f"step={i} loss={i}" for i in range(1, n + 1)], "no gap, no duplicate"
    points = cli.json("metrics", str(run_id), "--json")["metrics"]["loss"]
    assert points == [[i, float(i)] for i in range(1, n + 1)], "every metric exactly once"


def test_engine_kill_9_while_the_container_runs_and_ends(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", COUNT.format(n=40, pause=0.05) + "; exit 5",
                        opts=("--target", "box"))
    wait_for(lambda: "step=5 " in cli("logs", str(run_id)).stdout, what="some output")
    _kill_engine(cli)
    ident = _container(dockerd, env, run_id)
    wait_for(lambda: _state(dockerd, ident)["Status"] == "exited", timeout=60,
             what="the container to end while the engine is down")
    ended = _docker_time(_state(dockerd, ident)["FinishedAt"])
    back = time.time()
    cli("status")                                   # brings the engine back; it reattaches
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert run["exit_code"] == 5
    _assert_counted(cli, run_id, 40)
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert "reattached after an engine restart" in events
    assert abs(epoch_from_iso(run["finished_at"]) - ended) < 0.01 and ended < back, \
        "the container's own end time, not the time the engine noticed"
    wait_for(lambda: not dockerd.containers(f"id={ident}"), what="the container removed")


def _docker_time(text: str) -> float:
    return epoch_from_iso(re.sub(r"(\.\d{6})\d*", r"\1", text))


def _stop_file(env, run_id: int) -> Path:
    return Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "code" / "stop"


def test_docker_engine_restart_mid_run_loses_and_repeats_nothing(cli, dockerd, busybox_image,
                                                                 env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", COUNT_UNTIL_STOP.format(n=20), opts=("--target", "box"))
    wait_for(lambda: "step=10 " in cli("logs", str(run_id)).stdout, what="some output")
    dockerd.restart()                                # live-restore: the container goes on
    _stop_file(env, run_id).touch()
    run = cli.wait_state(run_id, "succeeded", timeout=90)
    assert run["exit_code"] == 0
    _assert_counted(cli, run_id, None)
    assert len(cli("logs", str(run_id)).stdout.splitlines()) > 20


def test_both_engines_down_then_back(cli, dockerd, busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", COUNT_UNTIL_STOP.format(n=20), opts=("--target", "box"))
    wait_for(lambda: "step=5 " in cli("logs", str(run_id)).stdout, what="some output")
    _kill_engine(cli)
    dockerd.stop()
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["box"]["status"] == "unreachable"
    assert dockerd.url in targets["box"]["message"]
    assert targets["local"]["status"] == "ok"
    local = cli.launch("echo", "local goes on")
    assert cli.wait_state(local, "succeeded")["exit_code"] == 0
    assert cli.run(run_id)["state"] == "running", "not given up while Docker is away"
    dockerd.start()
    _stop_file(env, run_id).touch()
    run = cli.wait_state(run_id, "succeeded", timeout=90)
    assert run["exit_code"] == 0
    _assert_counted(cli, run_id, None)
    assert len(cli("logs", str(run_id)).stdout.splitlines()) > 20
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["box"]["status"] == "ok" and targets["box"]["message"] is None


def test_container_killed_while_engine_away_keeps_its_true_exit_code(cli, dockerd,
                                                                     busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", "echo started; sleep 300", opts=("--target", "box"))
    wait_for(lambda: "started" in cli("logs", str(run_id)).stdout, what="the run to start")
    _kill_engine(cli)
    ident = _container(dockerd, env, run_id)
    dockerd.docker("kill", "--signal", "KILL", ident)
    cli("status")
    run = cli.wait_state(run_id, "failed", timeout=60)
    assert run["exit_code"] == 137 and run["reason"] == "killed by signal 9 (SIGKILL)"


def test_container_removed_while_engine_away_is_lost_with_reason(cli, dockerd, busybox_image,
                                                                 env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", "echo started; sleep 300", opts=("--target", "box"))
    wait_for(lambda: "started" in cli("logs", str(run_id)).stdout, what="the run to start")
    _kill_engine(cli)
    ident = _container(dockerd, env, run_id)
    dockerd.docker("rm", "-f", ident)
    cli("status")
    run = cli.wait_state(run_id, "lost", timeout=60)
    assert "is gone from the Docker engine" in run["reason"] and "run1" in run["reason"]
    assert cli("logs", str(run_id)).stdout == "started\n"


def test_container_found_by_labels_when_the_handle_was_never_recorded(cli, dockerd,
                                                                      busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", COUNT.format(n=30, pause=0.1), opts=("--target", "box"))
    wait_for(lambda: "step=3 " in cli("logs", str(run_id)).stdout, what="some output")
    cli("engine", "stop")
    # What an engine killed between starting the container and recording it leaves behind:
    conn = sqlite3.connect(Path(env["RUNYARD_HOME"]) / "runyard.db")
    conn.execute("UPDATE runs SET handle = '{}' WHERE id = ?", (run_id,))
    conn.commit()
    conn.close()
    cli("status")
    run = cli.wait_state(run_id, "succeeded", timeout=60)
    assert run["exit_code"] == 0
    _assert_counted(cli, run_id, 30)


def test_cancel_while_the_docker_engine_is_down_is_done_when_it_is_back(cli, dockerd,
                                                                          busybox_image, env):
    _box(cli, dockerd, busybox_image)
    run_id = cli.launch("sh", "-c", "echo started; sleep 300", opts=("--target", "box"))
    wait_for(lambda: "started" in cli("logs", str(run_id)).stdout, what="the run to start")
    dockerd.stop()
    cancel = subprocess.Popen([sys.executable, "-m", "tui", "cancel", str(run_id)], env=cli.env,
                              cwd=cli.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(e["kind"] == "cancel" for e in
                             cli.json("show", str(run_id), "--json")["events"]),
                 what="the cancel request recorded")
        assert cli.run(run_id)["state"] == "running"
        dockerd.start()
        run = cli.wait_state(run_id, "cancelled", timeout=60)
        assert run["exit_code"] == 143
        assert cancel.wait(60) == 0
    finally:
        if cancel.poll() is None:
            cancel.kill()
            cancel.wait()


def test_a_run_started_while_the_docker_engine_is_down_waits_for_it(cli, dockerd, busybox_image):
    """The start meets the engine gone (a transient error): the run goes back to the queue,
    the target says unreachable, and the run starts once the engine answers again. Starts
    are tried again every DOWN_PAUSE seconds meanwhile, not in a tight loop."""
    _box(cli, dockerd, busybox_image)
    first = cli.launch("echo", "engine up", opts=("--target", "box"))
    cli.wait_state(first, "succeeded", timeout=60)          # the target is ready, connected
    dockerd.stop()
    down = time.monotonic()
    try:
        run_id = cli.launch("echo", "after the restart", opts=("--target", "box"))
        wait_for(lambda: any(m.startswith("queued again: cannot reach the Docker engine at ")
                             for m in _events(cli, run_id)), timeout=60,
                 what="the start to meet the engine gone")
        target = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}["box"]
        assert target["status"] == "unreachable", target
        assert cli.run(run_id)["state"] == "queued"
    finally:
        dockerd.start()
    away = time.monotonic() - down
    assert cli.wait_state(run_id, "succeeded", timeout=60)["exit_code"] == 0
    assert cli("logs", str(run_id)).stdout == "after the restart\n"
    tries = sum(m.startswith("queued again") for m in _events(cli, run_id))
    assert 1 <= tries <= away / DOWN_PAUSE + 2, f"{tries} starts in {away:.0f} s"


def _events(cli, run_id: int) -> list[str]:
    return [e["message"] or "" for e in cli.json("show", str(run_id), "--json")["events"]]
