"""The results table's plain parts: columns, values, best values, order, alignment, seeds."""

import json
import math

import pytest

from core import config as configuration
from core.errors import ConfigError, UsageError
from core.models import RunState
from tui import formatting
from tui.runlist import groups as run_groups
from tui.runlist import results
from tui.runlist.rows import RunRow


def row(run_id, params, metrics, state="succeeded", group=None):
    return RunRow(id=run_id, name="train", state=RunState(state), reason=None, exit_code=None,
                  target="local", gpu_ids=(), gpu_count=0, template_json=json.dumps(["x"]),
                  params=params, tags=(), parent=None, created_at="", started_at=None,
                  finished_at=None, metrics=metrics, group=group, signature=(run_id,))


ROWS = [
    row(1, {"lr": 0.1, "seed": 0, "opt": "adam"}, {"val_acc": 0.80, "loss": 0.40, "step": 70}),
    row(2, {"lr": 0.1, "seed": 1, "opt": "adam"}, {"val_acc": 0.84, "loss": 0.36, "step": 70}),
    row(3, {"lr": 0.03, "seed": 0, "opt": "adam"}, {"val_acc": 0.91, "loss": 0.22, "step": 70}),
    row(4, {"lr": 0.03, "seed": 1, "opt": "adam"}, {"val_acc": 0.89, "loss": "NaN", "step": 70},
        state="running"),
    row(5, {"lr": 0.01, "seed": 0, "opt": "adam"}, {"loss": 0.5}, state="queued"),
]
EXTREMES = {1: {"val_acc": (0.6, 0.85), "loss": (0.38, 0.6)}, 2: {"val_acc": (0.6, 0.84)}}


def test_default_columns_are_the_varying_params_and_the_shared_metrics():
    names = [c.name for c in results.default_columns(ROWS)]
    assert names == ["lr", "seed", "loss"], "opt is constant; val_acc is not in run 5; no step"
    assert [c.name for c in results.default_columns(ROWS[:4])] == ["lr", "seed", "loss",
                                                                   "val_acc"]


def test_column_words_choose_replace_add_and_drop():
    chosen = results.parse_columns(["lr,val_acc:best", "loss:min"], ROWS)
    assert [(c.kind, c.key, c.summary) for c in chosen] == [
        ("param", "lr", "last"), ("metric", "val_acc", "best"), ("metric", "loss", "min")]
    assert [c.name for c in results.parse_columns(["+opt,-seed"], ROWS)] == ["lr", "loss", "opt"]
    with pytest.raises(UsageError, match="no param or metric named 'nope'") as caught:
        results.parse_columns(["nope"], ROWS)
    assert "val_acc" in caught.value.hint and "SUMMARY" in caught.value.hint
    with pytest.raises(UsageError, match="not a metric"):
        results.parse_columns(["lr:best"], ROWS)


def test_values_last_best_min_max_with_the_direction_of_each_metric():
    cells = results.Cells(EXTREMES)
    acc = {s: results.ResultColumn("metric", "val_acc", s) for s in results.SUMMARIES}
    assert [cells(ROWS[0], acc[s]) for s in ("last", "best", "min", "max")] == [0.8, 0.85, 0.6,
                                                                                 0.85]
    loss_best = results.ResultColumn("metric", "loss", "best")
    assert cells(ROWS[0], loss_best) == 0.38, "loss: lower is better"
    assert math.isnan(cells(ROWS[3], results.ResultColumn("metric", "loss")))
    assert cells(ROWS[4], acc["last"]) is None
    flipped = results.Cells(EXTREMES, results.Better.from_config({"loss": "higher"}))
    assert flipped(ROWS[0], loss_best) == 0.6


def test_the_best_of_each_metric_column_and_ranking_best_first():
    cells = results.Cells(EXTREMES)
    columns = results.parse_columns(["lr,val_acc,loss"], ROWS)
    assert results.best_ids(ROWS, columns, cells) == {"val_acc": {3}, "loss": {3}}
    acc = columns[1]
    ranked = sorted(ROWS, key=results.rank_key(lambda r: cells(r, acc), cells.best_first(acc)))
    assert [r.id for r in ranked] == [3, 4, 2, 1, 5], "highest first, missing last"
    loss = columns[2]
    ranked = sorted(ROWS, key=results.rank_key(lambda r: cells(r, loss), cells.best_first(loss)))
    assert [r.id for r in ranked] == [3, 2, 1, 5, 4], "lowest first, NaN last"
    worst_first = sorted(ROWS, key=results.rank_key(lambda r: cells(r, acc), False))
    assert [r.id for r in worst_first] == [1, 2, 4, 3, 5], "missing last either way"


def test_a_diverged_value_is_never_the_best_nor_ranked_first():
    # A run whose metric went to inf (a diverged loss, a score that overflowed) had the best
    # mark and the top of the ranking for a higher-is-better metric.
    rows = [row(1, {"lr": 0.1}, {"val_acc": 0.8, "loss": 0.4}),
            row(2, {"lr": 10.0}, {"val_acc": math.inf, "loss": -math.inf}),
            row(3, {"lr": 0.01}, {"val_acc": 0.7, "loss": 0.3})]
    cells = results.Cells()
    columns = results.parse_columns(["val_acc,loss"], rows)
    assert results.best_ids(rows, columns, cells) == {"val_acc": {1}, "loss": {3}}
    for column, order in zip(columns, ([1, 3, 2], [3, 1, 2])):
        ranked = sorted(rows, key=results.rank_key(lambda r: cells(r, column),
                                                   cells.best_first(column)))
        assert [r.id for r in ranked] == order


def test_numbers_line_up_on_the_decimal_point():
    texts = [results.cell_text(v) for v in (0.9123, 12.5, 3, 1.5e-5, float("nan"))]
    left, right = formatting.decimal_widths(texts)
    aligned = [formatting.align_decimal(t, left, right) for t in texts]
    assert len({len(t) for t in aligned}) == 1
    points = {t.index(".") for t in aligned if "." in t}
    assert len(points) == 1, aligned
    assert aligned[2].rstrip().endswith("3") and aligned[2].index("3") == points.pop() - 1
    assert [formatting.compact(v) for v in (40, 1200, 1_000_000, 2_500_000, 0.25, 1e-5)] == \
        ["40", "1.2k", "1M", "2.5M", "0.25", "1e-05"]


def test_a_group_row_shows_its_worst_active_state_counts_best_and_seeds():
    cells = results.Cells(EXTREMES)
    acc = results.ResultColumn("metric", "val_acc")
    summary = run_groups.summarize(ROWS, acc, cells, [acc])
    assert summary.state is RunState.RUNNING and summary.size == 5
    assert summary.counts == {RunState.RUNNING: 1, RunState.QUEUED: 1, RunState.SUCCEEDED: 3}
    assert summary.best == (0.91, 3) and summary.seed == "seed"
    first = summary.seeds[0]
    assert first.params == {"lr": 0.03, "opt": "adam"} and first.run_ids == (3, 4)
    assert first.spreads["val_acc"].text() == "0.900 ± 0.014"
    assert [g.params["lr"] for g in summary.seeds] == [0.03, 0.1, 0.01]
    assert run_groups.group_state([ROWS[0], ROWS[4]]) is RunState.QUEUED
    assert run_groups.seed_param(ROWS[:1]) is None


def test_which_way_a_metric_is_better_can_be_set_in_the_config():
    config = configuration.load_text('[results]\nbetter = { val_wer = "lower", reward = '
                                     '"higher", val_loss_gap = "higher" }\n')
    better = results.Better.from_config(config.better)
    assert better.lower("val_wer") and not better.lower("reward")
    assert not better.lower("val_loss_gap") and better.lower("val_loss")
    with pytest.raises(ConfigError, match='results.better.x: expected "lower" or "higher"'):
        configuration.load_text('[results]\nbetter = { x = "up" }\n')
    with pytest.raises(ConfigError, match="results.worse: unknown key"):
        configuration.load_text('[results]\nworse = {}\n')


def test_curves_tell_apart_by_colour_and_marker_and_ticks_read():
    from tui.runlist import curves
    with_colour = [(curves.marker(i, True, 6), i % 6) for i in range(50)]
    assert len(set(with_colour)) == 50, "colour and marker together: every curve its own"
    assert len({curves.marker(i, False, 6) for i in range(12)}) == 12
    assert curves.nice_ticks(0, 1200, 5) == [0.0, 250.0, 500.0, 750.0, 1000.0]
    assert len(curves.nice_ticks(0.5, 0.91, 2)) >= 2
    assert curves.log_ticks(-2, 0.1, 3) == [-2.0, -1.0, 0.0]
    assert curves.thin(list(range(10)), 4) == [0, 3, 6, 9]
    smoothed = curves.smooth([(0, 1.0), (1, 0.0), (2, 0.0)])
    assert smoothed[0] == (0, 1.0) and 0 < smoothed[2][1] < smoothed[1][1] < 1
    assert curves.best_point([[(0, 0.5), (1, 0.2)], [(0, 0.3)]], lower=True) == (0, (1, 0.2))
    assert curves.nice_ticks(0, 6, 11, integer=True) == [0.0, 1, 2, 3, 4, 5, 6], \
        "steps are whole numbers: no tick at 0.5"
