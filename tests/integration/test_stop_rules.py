"""Stop rules through the real CLI and engine: a rule fires, the run ends `stopped`."""

from pathlib import Path

from tests.helpers import process_alive

# Prints the given metric lines one by one, then sleeps long: only a stop ends it early.
FEED = 'for line in "$@"; do echo "$line"; sleep 0.05; done; sleep 300'


def _feed(cli, rules, *lines):
    opts = tuple(x for rule in rules for x in ("--stop-if", rule))
    return cli.launch("sh", "-c", FEED, "feed", *lines, opts=opts)


def _pid(env, run_id):
    return int((Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "pid").read_text())


def test_loss_is_nan_stops_the_run_like_a_cancel(cli, env):
    run_id = _feed(cli, ["loss is nan"], "step=1 loss=0.9", "step=2 loss=0.7", "step=3 loss=nan")
    done = cli.wait_state(run_id, "stopped", timeout=60)
    assert done["cause"] == "stop_rule"
    assert done["reason"] == "stop rule: loss is nan (loss=nan at step 3)"
    assert done["stop_if"] == ["loss is nan"]
    assert not process_alive(_pid(env, run_id)), "the run's processes are gone"
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert events[-2:] == ["stop rule: loss is nan (loss=nan at step 3)", "stopped"] or \
        "stop rule: loss is nan (loss=nan at step 3)" in events
    assert cli("wait", str(run_id), check=False).returncode == 143, "ended by SIGTERM"
    stopped = cli.json("status", "--json", "--state", "stopped")["runs"]
    assert [r["id"] for r in stopped] == [run_id]


def test_a_threshold_and_a_plateau_fire_and_a_quiet_rule_does_not(cli):
    high = _feed(cli, ["val_loss > 10"], "val_loss=3", "val_loss=8", "val_loss=12.5")
    flat = _feed(cli, ["val_acc plateau 3"], "val_acc=0.5", "val_acc=0.7", "val_acc=0.69",
                 "val_acc=0.7", "val_acc=0.65", "val_acc=0.9")
    calm = cli.launch("sh", "-c", "echo loss=0.5; echo loss=0.4", opts=("--stop-if", "loss is nan"))
    assert cli.wait_state(high, "stopped", timeout=60)["reason"] == \
        "stop rule: val_loss > 10 (val_loss=12.5 at step 2)"
    reason = cli.wait_state(flat, "stopped", timeout=60)["reason"]
    assert reason.startswith("stop rule: val_acc plateau 3 (no improvement in 3 reports") and \
        "best val_acc=0.7 at step 1" in reason
    assert cli.wait_state(calm, "succeeded")["cause"] is None


def test_malformed_rules_are_refused_at_launch(cli):
    proc = cli("launch", "--stop-if", "loss is huge", "--", "true", check=False)
    assert proc.returncode == 2 and "not a rule" in proc.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []


def test_a_clone_keeps_its_parents_rules(cli):
    parent = _feed(cli, ["loss > 5"], "loss=9")
    cli.wait_state(parent, "stopped", timeout=60)
    child = int(cli("clone", str(parent)).stdout)
    assert cli.wait_state(child, "stopped", timeout=60)["stop_if"] == ["loss > 5"]
