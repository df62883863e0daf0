"""`tui compare` and `tui status --columns/--sort/--best` on a store with a known leaderboard.

The store (tests/tui/sweep_store.py) holds a 3 x 2 sweep over lr and seed whose order by
val_acc is known; the CLI's CSV is parsed back and must give that order and those values.
"""

import csv
import io
from pathlib import Path

import pytest

from tests.tui.sweep_store import BY_BEST_VAL_ACC, BY_LAST_VAL_ACC, BY_LOSS, SWEEP, sweep_store


@pytest.fixture
def leaderboard(cli, env):
    sweep_store(Path(env["RUNYARD_HOME"]), running=False)
    return cli


def test_a_sweeps_leaderboard_as_csv_parses_back_in_the_known_order(leaderboard):
    out = leaderboard("compare", "--group", "1", "--sort", "val_acc", "--csv").stdout
    table = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["id"]) for r in table] == BY_LAST_VAL_ACC
    assert list(table[0]) == ["id", "name", "state", "lr", "seed", "loss", "val_acc"]
    for r in table:
        lr, seed, _, acc, loss = SWEEP[int(r["id"]) - 1]
        assert (float(r["lr"]), int(r["seed"])) == (lr, seed)
        assert (float(r["val_acc"]), float(r["loss"])) == (acc[-1], loss[-1])
    by_name = leaderboard("compare", "--group", "lr-sweep", "--sort", "val_acc:best",
                          "--csv").stdout
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(by_name))] == BY_BEST_VAL_ACC
    by_loss = leaderboard("compare", "--group", "1", "--sort", "loss", "--csv").stdout
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(by_loss))] == BY_LOSS
    worst = leaderboard("compare", "--group", "1", "--sort", "val_acc", "--reverse",
                        "--csv").stdout
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(worst))] == BY_LAST_VAL_ACC[::-1]


def test_compare_as_text_json_and_markdown(leaderboard):
    text = leaderboard("compare", "--group", "1", "--sort", "val_acc").stdout
    lines = text.splitlines()
    assert lines[0] == "sweep 1 lr-sweep · 6 runs: ✗1 ■1 ✓4 · best val_acc 0.91 (run 3)"
    header = lines[1].split()
    assert header == ["ID", "NAME", "STATE", "lr", "seed", "loss", "val_acc"]
    rows = lines[2:8]
    assert [int(line.split()[0]) for line in rows] == BY_LAST_VAL_ACC
    assert rows[0].rstrip().endswith("0.91*") and "0.22*" in rows[0], "best values marked"
    points = {line.rindex(".") for line in rows}
    assert len(points) == 1, f"val_acc aligned on the decimal point:\n{text}"
    assert "over seed" in text and "0.900 ± 0.014" in text
    data = leaderboard.json("compare", "--group", "1", "--sort", "val_acc", "--json")
    assert data["schema"] == 1 and [r["id"] for r in data["runs"]] == BY_LAST_VAL_ACC
    assert data["best"] == {"val_acc": [3], "loss": [3]}
    assert data["columns"][3] == {"name": "val_acc", "kind": "metric", "key": "val_acc",
                                  "summary": "last", "better": "higher"}
    assert data["group"]["states"] == {"failed": 1, "stopped": 1, "succeeded": 4}
    assert data["seeds"][0]["params"] == {"lr": 0.03, "epochs": 7}
    assert data["seeds"][0]["values"]["val_acc"]["n"] == 2
    markdown = leaderboard("compare", "3", "4", "7", "--markdown").stdout
    assert "| 3 | train | ✓ succeeded |" in markdown and "**0.91**" in markdown
    assert markdown.count("\n|") == 4, "header, rule and three runs"


def test_status_takes_the_same_choices(leaderboard):
    out = leaderboard("status", "--all", "--columns", "lr,val_acc:best", "--sort",
                      "val_acc:best", "--best").stdout
    lines = out.splitlines()
    assert lines[0].split()[-2:] == ["lr", "val_acc:best"]
    assert [int(line.split()[0]) for line in lines[1:]] == [3, 4, 5, 1, 2, 7, 6]
    assert lines[1].endswith("0.91*") and "*" not in "".join(lines[2:])
    data = leaderboard.json("status", "--all", "--sort", "loss", "--json")
    assert [r["id"] for r in data["runs"]][:5] == BY_LOSS[:5] and data["schema"] == 1


@pytest.mark.parametrize("args, code, words", [
    (("compare",), 2, "name the runs, or a group"),
    (("compare", "--group", "9"), 3, "no group '9'"),
    (("compare", "1", "--columns", "lr,bogus"), 2, "no param or metric named 'bogus'"),
    (("compare", "1", "--sort", "lr:best"), 2, "not a metric"),
    (("compare", "99"), 3, "no run with id 99"),
    (("status", "--sort", "nope"), 2, "no param or metric named 'nope'"),
    (("compare", "1", "--csv", "--json"), 2, "not allowed with"),
])
def test_bad_choices_get_one_line_and_a_hint(leaderboard, args, code, words):
    proc = leaderboard(*args, check=False)
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    if code != 2 or "not allowed" not in words:
        assert "hint:" in proc.stderr


def test_hostile_names_and_params_reach_the_table_plain(leaderboard, env):
    from core.store.ledger import Ledger
    from tests.tui.fixture_store import add_run
    ledger = Ledger.open(Path(env["RUNYARD_HOME"]) / "runyard.db")
    evil = add_run(ledger, ["x"], {"lr": "\x1b]0;PWNED\x07a|b"}, state="succeeded",
                   started=-10, finished=-5, name="n\x1b[2Jame", metrics={"val_acc": [1e30]})
    ledger.close()
    for fmt in ((), ("--markdown",), ("--csv",)):
        out = leaderboard("compare", "1", str(evil), *fmt).stdout
        assert "\x1b" not in out and "PWNED" not in out, fmt
    assert "a\\|b" in leaderboard("compare", "1", str(evil), "--markdown").stdout


def test_a_hostile_metric_name_reaches_no_terminal(leaderboard, env):
    from core.store.ledger import Ledger
    from tests.tui.fixture_store import add_run
    ledger = Ledger.open(Path(env["RUNYARD_HOME"]) / "runyard.db")
    evil = add_run(ledger, ["x"], {"lr": 1}, state="succeeded", started=-10, finished=-5,
                   metrics={"\x1b]0;PWNED\x07acc\x1b[2J": [0.5, 0.6], "val_acc": [0.1]})
    ledger.close()
    for fmt in ((), ("--markdown",), ("--csv",)):
        out = leaderboard("compare", "3", str(evil), "--columns", "+\x1b]0;PWNED\x07acc\x1b[2J",
                          *fmt).stdout
        assert "\x1b" not in out and "PWNED" not in out and "acc" in out, (fmt, out)
    out = leaderboard("status", "--all", "--sort", "\x1b]0;PWNED\x07acc\x1b[2J:max").stdout
    assert "\x1b" not in out and "PWNED" not in out
