"""SSH runs survive every disconnect: connection cut, sshd restarted, link down, engine kill -9.

Each run prints numbered `line=N` lines; afterwards the local log must hold every line
exactly once, in order, and the metric `line` every value exactly once.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.daemons import sshd
from tests.helpers import kill_store_processes, process_alive, require, wait_for

LINES = 120


def _writer(cli, target: str, lines: int = LINES, delay: str = "0.03", code: int = 7) -> int:
    return cli.launch("sh", "-c", f"for i in $(seq 1 {lines}); do echo line=$i; sleep {delay}; "
                      f"done; exit {code}", opts=("--target", target))


def _assert_complete(cli, run_id: int, lines: int = LINES, code: int = 7) -> None:
    done = cli.wait_state(run_id, "failed", "succeeded", "lost", timeout=90)
    assert done["state"] == ("succeeded" if code == 0 else "failed"), done
    assert done["exit_code"] == code, done
    assert cli("logs", str(run_id)).stdout.splitlines() == [f"line={i}" for i in
                                                            range(1, lines + 1)]
    points = cli.json("metrics", str(run_id), "--json")["metrics"]["line"]
    assert [value for _step, value in points] == list(range(1, lines + 1))


def _local_lines(cli, run_id: int) -> int:
    return len(cli("logs", str(run_id)).stdout.splitlines())


def test_cut_connections_while_runs_write_output(lab, cli):
    lab.configure(lab.target("box1"))
    ids = [_writer(cli, "box1") for _ in range(3)]
    for cut in range(1, 4):
        # Each cut comes once the box is back from the last one ("ok" again), not while a
        # new connection is still logging in (that cut is noticed as a failed login).
        wait_for(lambda lines=10 * cut, cut=cut: all(_local_lines(cli, i) > lines for i in ids)
                 and _engine_log(cli).count("box box1: ok") >= cut and lab.box1.connections(),
                 timeout=60, what="output mirrored and the box connected again")
        assert lab.box1.cut_connections() >= 1
    for run_id in ids:
        _assert_complete(cli, run_id)
    assert _engine_log(cli).count("box box1: unreachable") >= 3, "the cuts were noticed"
    events = [e["message"] for e in cli.json("show", str(ids[0]), "--json")["events"]]
    assert not any("queued again" in e for e in events)


def test_sshd_restart_while_runs_write_output(lab, cli):
    lab.configure(lab.target("box1"))
    run_id = _writer(cli, "box1", lines=150, delay="0.04")
    wait_for(lambda: _local_lines(cli, run_id) > 5, timeout=60, what="output mirrored")
    lab.box1.stop()
    remote_log = lab.remote_run_dir(lab.box1, run_id) / "output.log"
    seen = _local_lines(cli, run_id)
    wait_for(lambda: len(remote_log.read_text().splitlines()) > seen + 20, timeout=30,
             what="the run to go on writing on the box while sshd is down")
    targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
    assert targets["box1"]["status"] == "unreachable", targets["box1"]
    assert "refused the connection" in targets["box1"]["message"]
    lab.box1.start()
    _assert_complete(cli, run_id, lines=150)
    wait_for(lambda: {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
             ["box1"]["status"] == "ok", timeout=30, what="box1 to be ok again")


def test_engine_kill_9_during_remote_runs_reattaches(lab, cli):
    lab.configure(lab.target("box1"), lab.target("box2"))
    writer = _writer(cli, "box1", lines=80, delay="0.05", code=3)
    quick = _writer(cli, "box2", lines=20, delay="0.01", code=0)
    victim = cli.launch("sleep", "300", opts=("--target", "box2"))
    wait_for(lambda: _local_lines(cli, writer) > 5 and cli.run(victim)["state"] == "running",
             timeout=60, what="runs going")
    engine = cli.engine_pid()
    os.kill(engine, signal.SIGKILL)
    wait_for(lambda: not process_alive(engine), what="the engine to die")
    remote = lab.remote_run_dir(lab.box1, writer)
    wait_for(lambda: (remote / "exit_status").exists(), timeout=60,
             what="the box1 run to end while the engine is down")
    victim_pid = lab.handle(victim)["pid"]
    os.killpg(victim_pid, signal.SIGKILL)           # vanishes without a status (a reboot)
    wait_for(lambda: not process_alive(victim_pid), what="the victim to vanish")
    cli("status")                                   # brings the engine back
    _assert_complete(cli, writer, lines=80, code=3)
    _assert_complete(cli, quick, lines=20, code=0)
    lost = cli.wait_state(victim, "lost", timeout=60)
    assert "ended without writing an exit status" in lost["reason"]
    assert "box2" in lost["reason"]
    events = [e["message"] for e in cli.json("show", str(writer), "--json")["events"]]
    assert "reattached after an engine restart" in events
    assert cli.run(writer)["finished_at"] < cli.run(victim)["finished_at"]


def test_link_down_is_noticed_and_the_run_caught_up_after(lab, cli):
    require(sshd.Namespace.possible(), "network namespaces (ip netns) are needed")
    namespace = sshd.Namespace().create()
    try:
        box = lab.add_box("box3", address=namespace.box_address, netns=namespace.name,
                          path_env="/usr/bin:/bin")
        lab.configure(lab.target("box3", keepalive=1, connect_timeout=2))
        run_id = _writer(cli, "box3", lines=200, delay="0.04")
        wait_for(lambda: _local_lines(cli, run_id) > 5, timeout=60, what="output mirrored")
        namespace.link(up=False)
        wait_for(lambda: _status(cli, "box3") == "unreachable", timeout=30,
                 what="the dead link to be noticed (keepalive)")
        remote_log = lab.remote_run_dir(box, run_id) / "output.log"
        seen = _local_lines(cli, run_id)
        wait_for(lambda: len(remote_log.read_text().splitlines()) > seen + 20, timeout=30,
                 what="the run to go on while the link is down")
        namespace.link(up=True)
        _assert_complete(cli, run_id, lines=200)
        assert _status(cli, "box3") == "ok"
    finally:
        box3 = lab.boxes.pop("box3")
        box3.stop()
        kill_store_processes(box3.work)
        namespace.delete()


def _engine_log(cli) -> str:
    return (Path(cli.env["RUNYARD_HOME"]) / "engine.log").read_text()


def _status(cli, name: str) -> str:
    targets = json.loads(cli("targets", "--json").stdout)["targets"]
    return next(t for t in targets if t["name"] == name)["status"]


def test_a_cancel_while_the_box_is_down_is_sent_when_it_is_back(lab, cli):
    lab.configure(lab.target("box1"), "[run]\ncancel_grace = 1\n")
    run_id = cli.launch("sleep", "300", opts=("--target", "box1"))
    wait_for(lambda: lab.handle(run_id).get("pid"), timeout=60, what="the run to start")
    pid = lab.handle(run_id)["pid"]
    lab.box1.stop()
    cancel = subprocess.Popen([sys.executable, "-m", "tui", "cancel", str(run_id), "--json"],
                              cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, text=True)
    wait_for(lambda: any("the cancel is sent when the box is back" in e["message"]
                         for e in cli.json("show", str(run_id), "--json")["events"]),
             timeout=30, what="the failed cancel to be recorded")
    assert process_alive(pid), "nothing could reach the run yet"
    lab.box1.start()
    out, _ = cancel.communicate(timeout=60)
    assert json.loads(out)["runs"][0]["state"] == "cancelled"
    wait_for(lambda: not process_alive(pid), timeout=10, what="the remote run to be gone")
