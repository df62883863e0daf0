"""Watch triggers through the real CLI and engine, with real file events (watchfiles)."""

import json

from tests.helpers import wait_for


def _watch(cli, watch_id=1) -> dict:
    return next(w for w in cli.json("watch", "list", "--json")["watches"] if w["id"] == watch_id)


def _runs(cli) -> list[dict]:
    return cli.json("status", "--json", "--all")["runs"]


def test_a_burst_of_100_file_events_yields_one_run(cli, project):
    data = project / "data"
    data.mkdir()
    reply = json.loads(cli("launch", "--json", "--watch", "data", "--debounce", "0.5", "--",
                           "sh", "-c", "ls data 2>/dev/null | wc -l").stdout)
    first, watch = reply["run"]["id"], reply["watch"]
    assert watch["paths"] == [str(data.resolve())] and watch["state"] == "active"
    cli.wait_state(first, "succeeded")
    assert cli("logs", str(first)).stdout.strip() == "0"
    for i in range(100):
        (data / f"part-{i:03d}.csv").write_text(f"{i},{i * i}\n")
    seen = wait_for(lambda: (w := _watch(cli))["changes"] >= 100 and not w["pending"]
                    and w["triggers"] == 2 and w, timeout=30, what="the burst to be handled")
    second = seen["last_run"]
    cli.wait_state(second, "succeeded")
    assert cli("logs", str(second)).stdout.strip() == "100", "the new run sees the new data"
    assert [r["id"] for r in _runs(cli)] == [first, second], "one run for the whole burst"
    assert {r["group"] for r in _runs(cli)} == {watch["group"]}
    assert _watch(cli)["triggers"] == 2


def test_a_queued_run_made_outdated_by_a_newer_change_is_replaced(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "60")
    cli.wait_state(blocker, "running")
    (project / "src").mkdir()
    source = project / "src" / "model.py"
    source.write_text("V = 1\n")
    first = int(cli("launch", "--watch", "src", "--debounce", "0.2", "--", "cat",
                    "src/model.py").stdout)
    assert cli.run(first)["state"] == "queued"
    for version in (2, 3):
        source.write_text(f"V = {version}\n")
        wait_for(lambda: _watch(cli)["triggers"] == version and not _watch(cli)["pending"],
                 timeout=30, what=f"relaunch for version {version}")
    runs = {r["id"]: r for r in _runs(cli)}
    newest = _watch(cli)["last_run"]
    replaced = [r for r in runs.values() if r["cause"] == "replaced"]
    assert [r["id"] for r in replaced] == [first, first + 1]
    assert all(r["state"] == "cancelled" and r["started_at"] is None for r in replaced)
    assert runs[first]["reason"] == f"cancelled (replaced by run {first + 1}, for a newer change)"
    assert runs[newest]["state"] == "queued"
    cli("cancel", str(blocker))
    cli.wait_state(newest, "succeeded")
    assert cli("logs", str(newest)).stdout == "V = 3\n"


def test_a_watch_survives_an_engine_restart_and_can_be_stopped(cli, project):
    (project / "inbox").mkdir()
    (project / "inbox" / "first.txt").write_text("0")
    first = int(cli("launch", "--watch", "inbox", "--debounce", "0.2", "--", "ls", "inbox").stdout)
    cli.wait_state(first, "succeeded")
    cli("engine", "stop")
    (project / "inbox" / "arrived-while-down.txt").write_text("x")
    # Any command brings the engine back; it resumes the watch and sees what changed.
    watch = wait_for(lambda: (w := _watch(cli))["triggers"] == 2 and not w["pending"] and w,
                     timeout=30, what="the relaunch for the change made while down")
    cli.wait_state(watch["last_run"], "succeeded")
    assert "arrived-while-down.txt" in cli("logs", str(watch["last_run"])).stdout
    (project / "inbox" / "later.txt").write_text("y")
    wait_for(lambda: _watch(cli)["triggers"] == 3, timeout=30, what="watching goes on")
    stopped = cli.json("watch", "stop", "1", "--json")["watches"][0]
    assert stopped["state"] == "stopped" and stopped["stopped_at"]
    assert "stopped" in cli("watch", "list").stdout


def test_watch_mistakes_are_refused(cli):
    proc = cli("launch", "--watch", "no-such-dir", "--", "true", check=False)
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    proc = cli("launch", "--watch", ".", "--sweep", "a=1,2", "--", "true", check=False)
    assert proc.returncode == 2 and "does not take --sweep" in proc.stderr
    proc = cli("watch", "stop", "7", check=False)
    assert proc.returncode == 3 and "no watch with id 7" in proc.stderr
    assert _runs(cli) == []
