"""Nothing a run prints, and no pattern a user types, can stop the engine (issue 11).

Each test runs a hostile run beside an ordinary one through the real engine: the engine
stays the same process and keeps answering, the ordinary run ends normally with all its
metrics, and the hostile run's problem is reported on it once.
"""

import sys
import time

from tests.helpers import wait_for

NORMAL = ("import time\nfor i in range(20):\n    print(f'step={i} loss={1 / (i + 1)}', flush=True)\n"
          "    time.sleep(0.05)\n")


def _events(cli, run_id: int) -> list[str]:
    return [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]


def _engine_answers_quickly(cli) -> float:
    started = time.monotonic()
    cli("status", timeout=20)
    return time.monotonic() - started


def test_numbers_too_big_for_the_store_are_skipped_with_one_warning(cli, project):
    (project / "normal.py").write_text(NORMAL)
    (project / "huge.py").write_text(
        "print('loss=1', flush=True)\n"
        "print('step=1e30 loss=2', flush=True)\n"
        "print('step=99999999999999999999 loss=3', flush=True)\n"
        "print('step=%d loss=3.5' % 2 ** 70, flush=True)\n"
        "print('{\"step\": 1e300, \"loss\": 4}', flush=True)\n"
        "print('loss=1e999', flush=True)\n"
        "print('step=3 loss=5', flush=True)\n"
        "print('loss=6')\n")
    huge = cli.launch(sys.executable, "huge.py")
    normal = cli.launch(sys.executable, "normal.py")
    pid = wait_for(lambda: cli.engine_pid(), what="the engine")
    assert cli("wait", str(huge), str(normal), timeout=60).returncode == 0
    assert cli.run(huge)["state"] == "succeeded" and cli.run(normal)["state"] == "succeeded"
    assert cli.engine_pid() == pid, "the engine must not have restarted"
    points = cli.json("metrics", str(huge), "--json")["metrics"]["loss"]
    assert points == [[0, 1.0], [3, 6.0]]                 # the unfinished last line counts
    warnings = [m for m in _events(cli, huge) if "does not fit" in m]
    assert len(warnings) == 2, warnings                    # one for steps, one for values
    assert len(cli.json("metrics", str(normal), "--json")["metrics"]["loss"]) == 20


def test_a_metrics_pattern_that_backtracks_forever_is_switched_off_and_reported(cli, project):
    (project / "runyard.toml").write_text(
        "[metrics]\npatterns = ['''(?P<key>(a|aa)+)c(?P<value>\\d)''']\n")
    (project / "normal.py").write_text(NORMAL)
    (project / "bad.py").write_text(
        "import time\n"
        "for i in range(3):\n"
        "    print('a' * 60 + '!', flush=True)\n"
        "    print(f'step={i} loss={i}', flush=True)\n"
        "    time.sleep(0.2)\n")
    bad = cli.launch(sys.executable, "bad.py")
    normal = cli.launch(sys.executable, "normal.py")
    pid = wait_for(lambda: cli.engine_pid(), what="the engine")
    assert cli("wait", str(bad), str(normal), timeout=60).returncode == 0
    assert _engine_answers_quickly(cli) < 5
    assert cli.engine_pid() == pid
    assert cli.json("metrics", str(bad), "--json")["metrics"]["loss"] == [[0, 0.0], [1, 1.0],
                                                                          [2, 2.0]]
    assert len(cli.json("metrics", str(normal), "--json")["metrics"]["loss"]) == 20
    notes = [m for m in _events(cli, bad) if "switched off" in m]
    assert len(notes) == 1 and "(a|aa)+" in notes[0], _events(cli, bad)


def test_a_retry_on_pattern_that_backtracks_forever_is_reported_not_retried(cli, project):
    (project / "normal.py").write_text(NORMAL)
    failing = cli.launch(sys.executable, "-c", "print('a' * 60 + '!'); raise SystemExit(1)",
                         opts=("--retries", "2", "--retry-on", "(a|aa)+c", "--retry-delay", "0"))
    normal = cli.launch(sys.executable, "normal.py")
    pid = wait_for(lambda: cli.engine_pid(), what="the engine")
    cli("wait", str(failing), str(normal), timeout=60, check=False)
    assert cli.run(normal)["state"] == "succeeded"
    run = cli.run(failing)
    assert run["state"] == "failed" and run["retried_as"] is None
    assert any("took longer than" in m and "given up" in m for m in _events(cli, failing))
    assert _engine_answers_quickly(cli) < 5
    assert cli.engine_pid() == pid
