"""Finding the best run at a glance: the results table, sorting, columns, sweeps, marks,
the compare view, charts that read, the footer, help, toasts and the remembered view.

The store (tests/tui/sweep_store.py) holds a 3 x 2 sweep over lr and seed whose ranking by
val_acc is known, plus one run launched alone.
"""

import asyncio
import json
import re

import pytest

from core.models import RunState
from core.store.ledger import Ledger
from tests.tui.apps import demo_app, line_text, make_app, row_text, until, widget_text
from tests.tui.fixture_store import add_run
from tests.tui.sweep_store import BY_BEST_VAL_ACC, BY_LAST_VAL_ACC, sweep_store
from tui.app import view_state
from tui.app.dialogs.columns import ColumnsDialog
from tui.app.dialogs.confirm import ConfirmDialog
from tui.app.dialogs.sort_pick import HOTKEYS, SortDialog
from tui.app.screens.compare import CompareScreen
from tui.app.screens.help import HelpScreen
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.log_view import LogView
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.run_table import RunTable


@pytest.fixture
def sweep(tmp_path):
    return sweep_store(tmp_path / "sweep-store")


async def sort_by(pilot, app, column: str) -> None:
    await pilot.press("s")
    await until(pilot, lambda: isinstance(app.screen, SortDialog), what="the sort list")
    names = [name for name, _ in app.screen.choices]
    await pilot.press(HOTKEYS[names.index(column)])
    await until(pilot, lambda: app.screen.id == "main", what="back on the list")


def sweep_order(table) -> list[int]:
    return [row.id for row, _ in table.shown if row.group == 1]


def val_acc_cells(table) -> list[str]:
    """The val_acc cells of the sweep's rows as drawn, padding included."""
    column = next(c for c in table.columns if c.name == "val_acc")
    start = sum(c.width + 1 for c in table.columns[:table.columns.index(column)])
    return [row_text(table, i)[start:start + column.width] for i in sweep_order(table)]


async def test_a_sweep_ranked_by_val_acc_in_two_keys_best_run_selected(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        header = line_text(table, 0)
        assert re.search(r"\blr\b.*\bseed\b.*\bval_acc\b", header), header
        assert header.index(" lr") < header.index("epochs"), "most telling params first"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SortDialog), what="the sort list")
        names = [name for name, _ in app.screen.choices]
        assert names[:4] == ["lr", "seed", "epochs", "split"] and "val_acc" in names
        assert {"id", "state", "name", "loss"} <= set(names), "every column, shown or not"
        await pilot.press(HOTKEYS[names.index("val_acc")])        # the second key
        await until(pilot, lambda: table.sort_column == "val_acc", what="sorted by val_acc")
        assert sweep_order(table) == BY_LAST_VAL_ACC
        assert table.current.id == 3, "the best run is selected"
        assert "val_acc↓" in line_text(table, 0)
        cells = val_acc_cells(table)
        assert cells[0].rstrip().endswith("0.91*") and "*" not in "".join(cells[1:])
        assert len({cell.index(".") for cell in cells}) == 1, f"decimal points: {cells}"
        await pilot.press("S")                                    # worst first
        assert sweep_order(table) == BY_LAST_VAL_ACC[::-1] and table.reverse is False
        lr_x = line_text(table, 0).index(" lr") + 2
        await pilot.click(RunTable, offset=(lr_x, 0))             # a header click: lr
        assert table.sort_column == "lr" and not table.reverse
        assert [table.rows[i].params["lr"] for i in sweep_order(table)] == \
            [0.01, 0.01, 0.03, 0.03, 0.1, 0.1]
        await pilot.click(RunTable, offset=(lr_x, 0))             # again: reversed
        assert table.sort_column == "lr" and table.reverse


async def test_columns_any_param_or_metric_as_last_best_min_or_max(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, ColumnsDialog), what="columns")
        dialog = app.screen
        lines = [line.column.name for line in dialog.lines]
        assert lines[:5] == ["lr", "seed", "epochs", "split", "val_acc"] and "loss" in lines
        shown = widget_text(dialog.query_one("#column-list"))
        assert "[x] lr" in shown and "[ ] loss" in shown, shown
        for name in ("epochs", "split", "seed"):                  # hide three params
            dialog.query_one("#column-list").highlighted = lines.index(name)
            await pilot.press("space")
        dialog.query_one("#column-list").highlighted = lines.index("val_acc")
        await pilot.press("right")                                # val_acc: last -> best
        dialog.query_one("#column-list").highlighted = lines.index("loss")
        await pilot.press("space", "right", "right")              # loss shown, as min
        assert "[ ] seed" in widget_text(dialog.query_one("#column-list"))
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.id == "main", what="columns kept")
        assert table.choice == ["lr", "val_acc:best", "loss:min"]
        assert [c.name for c in table.result_columns] == ["lr", "val_acc:best", "loss:min"]
        await sort_by(pilot, app, "val_acc:best")
        assert sweep_order(table) == BY_BEST_VAL_ACC, "best over the run, not the last"
        assert "0.85" in row_text(table, 1), "run 1 peaked at 0.85"
        await pilot.press("o", "d")                               # back to the defaults
        await until(pilot, lambda: table.choice is None, what="the default columns")
        assert [c.name for c in table.result_columns] == [
            "lr", "seed", "epochs", "split", "val_acc", "val_acc:best"], \
            "the column sorted by stays in sight"


async def test_a_folded_sweep_shows_its_worst_active_state_counts_and_best(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await sort_by(pilot, app, "val_acc")
        await pilot.press("z")
        assert [row.id for row, _ in table.shown] == [3, 7]
        line = row_text(table, 3)
        assert line.startswith(" ▶"), "a member runs: the folded row is running, not ✓"
        assert "▸ train +5 ▶1 ✗1 ✓4" in line and "0.91*" in line
        assert "0.03" not in line, "lr differs within the sweep: left blank when folded"
        header = widget_text(app.screen.query_one("#detail-header"))
        assert header.startswith("▶ lr-sweep (sweep 1) · 6 runs ▶1 ✗1 ✓4 · best val_acc 0.91 "
                                 "run 3 · over seed 0.900 ± 0.014 lr=0.03"), header
        await pilot.press("z")
        assert len(table.shown) == 7 and row_text(table, 3).startswith(" ✓")


async def test_the_filter_finds_a_group_by_number_and_by_name(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        for words in ("group:1", "group:lr-sweep", "lr-sweep", "g:1 failed"):
            await pilot.press("slash", "ctrl+u", *words, "enter")
            expected = [6] if "failed" in words else [1, 2, 3, 4, 5, 6]
            assert sorted(r.id for r in table.filtered) == expected, words
        await pilot.press("slash", "ctrl+u", *"group:2", "enter")
        assert table.filtered == []


async def test_marks_say_how_many_and_how_many_the_filter_hides(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        summary = app.screen.query_one("#summary")
        table.select_run(5)
        await pilot.press("space")                               # run 5 (running)
        table.select_run(7)
        await pilot.press("space")                               # run 7 (eval)
        assert "● 2 marked" in widget_text(summary)
        await pilot.press("slash", *"group:1", "enter")
        assert "● 1 marked (1 hidden by the filter)" in widget_text(summary)
        assert [r.id for r in table.marked_rows] == [5]
        await pilot.press("D")                                   # remove: run 5 has not ended
        notices = [n.message for n in app._notifications]
        assert notices[-1].startswith("nothing to remove: run 5 "), "run 7 is not proposed"
        table.select_run(2)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        question = app.screen.question
        assert question.startswith("Cancel 1 marked run: run 5 train?"), question
        assert "(1 marked run hidden by the filter: left alone)" in question
        await pilot.press("n")
        await until(pilot, lambda: app.screen.id == "main", what="answered No")
        assert table.marked == {5, 7}, "No keeps the marks"
        await pilot.press("A")                                   # mark every run shown
        assert table.marked == {1, 2, 3, 4, 5, 6, 7}
        assert "● 6 marked (1 hidden by the filter)" in widget_text(summary)
        await pilot.press("A")                                   # again: unmark them
        assert table.marked == {7}
        await pilot.press("U")
        assert not table.marked and "marked" not in widget_text(summary)


async def test_compare_any_number_of_runs_table_and_curves(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 32)) as pilot:
        table = app.screen.query_one(RunTable)
        await sort_by(pilot, app, "val_acc")
        await pilot.press("space", "space", "space", "C")        # runs 3, 4, 5
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        screen = app.screen
        text = widget_text(screen.query_one("#compare-text"))
        head, *rows = text.splitlines()[:4]
        assert head.split() == ["ID", "NAME", "STATE", "lr", "seed", "loss", "loss:best",
                                "val_acc", "val_acc:best"]
        assert [int(r.split()[0]) for r in rows] == [3, 4, 5]
        assert rows[0].rstrip().endswith("0.91*") and "0.22*" in rows[0]
        assert "0.900 ± 0.014 (2 runs)" in text
        chart = screen.query_one(MetricChart)
        assert app.focused is chart and [r.id for r in chart.runs] == [3, 4, 5]
        assert chart.metric == "val_acc", "the metric the list is sorted by"
        legend = widget_text(chart).splitlines()[:2]
        assert "★ best 0.91 (run 3, step 6)" in legend[0]
        assert "■ 3 train  ■ 4 train  ■ 5 train" in legend[1]
        await pilot.press("k")
        assert chart.metric == "loss"
        await pilot.press("L", "W")
        assert "loss · log scale · smoothed" in widget_text(chart)
        await pilot.press("tab")
        assert app.focused.id == "compare-table"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "main", what="back")
        assert table.marked == {3, 4, 5}, "looking is not consuming: the marks stay"
        await pilot.press("U")
        table.select_run(1)
        await pilot.press("C")                                   # no marks: the run's sweep
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        assert [r.id for r in app.screen.runs] == [1, 2, 3, 4, 5, 6]


async def test_escape_closes_compare_from_its_chart(sweep):
    """The compare view opens with the chart focused and its footer says `escape close`;
    the chart's own escape (back to the run list, on the main screen) swallowed the key."""
    app = demo_app(sweep)
    async with app.run_test(size=(100, 32)) as pilot:
        app.screen.query_one(RunTable).select_run(1)
        await pilot.press("C")                                   # run 1's sweep
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        assert isinstance(app.focused, MetricChart)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "main", what="back on the list")


def plot_rows(chart_text: str) -> int:
    lines = chart_text.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return bottom - top - 1


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_chart_fills_its_pane_and_reads(sweep, size):
    app = demo_app(sweep)
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(RunTable)
        table.select_run(3)
        await pilot.press("M")
        chart = app.screen.query_one(MetricChart)
        await pilot.pause()
        text = widget_text(chart)
        assert plot_rows(text) >= (8 if size[1] == 24 else 12), text
        frame = next(line for line in text.splitlines() if "┌" in line)
        assert len(frame.rstrip()) >= chart.size.width - 1, "the whole width of the pane"
        steps = text.splitlines()[-1].split()
        assert steps and all(re.fullmatch(r"\d+(\.\d+)?k?", s) for s in steps), steps
        assert "★" in text
        await pilot.press("escape", "C")                     # the sweep, compared
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        chart = app.screen.query_one(MetricChart)
        await pilot.pause()
        text = widget_text(chart)
        frame = next(line for line in text.splitlines() if "┌" in line)
        assert len(frame.rstrip()) >= chart.size.width - 1 >= size[0] - 3, \
            "as wide as the screen, not as the terminal plotext guesses"
        steps = text.splitlines()[-1].split()
        assert len(steps) >= 4 and all(re.fullmatch(r"[0-6]", s) for s in steps), \
            f"whole steps only: {steps}"


async def test_steps_read_as_integers_and_a_log_scale(tmp_path):
    paths = sweep_store(tmp_path / "long", points_per_eval=400)        # 2,800 steps a run
    app = demo_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one(RunTable).select_run(3)
        await pilot.press("M")
        chart = app.screen.query_one(MetricChart)
        await pilot.press("j")                                   # val_acc -> loss? no: next
        while chart.metric != "loss":
            await pilot.press("j")
        steps = widget_text(chart).splitlines()[-1].split()
        assert "1k" in steps or "1.5k" in steps or "2k" in steps, steps
        assert not any("e" in s for s in steps), steps
        await pilot.press("L")
        text = widget_text(chart)
        assert "log scale" in text.splitlines()[0] and chart.log_scale
        await pilot.press("L")
        assert not chart.log_scale


async def test_no_color_tells_curves_apart_by_markers(sweep, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        for run_id in (1, 2):
            table.select_run(run_id)
            await pilot.press("space")
        table.select_run(3)
        await pilot.press("M")
        chart = app.screen.query_one(MetricChart)
        text = chart.render()
        assert not text.spans or all(not span.style or "color" not in repr(span.style)
                                     for span in text.spans)
        legend = text.plain.splitlines()[1]
        assert "• 3 train" in legend and "x 1 train" in legend and "+ 2 train" in legend
        body = "\n".join(text.plain.splitlines()[2:])
        assert "x" in body and "+" in body and "⠁" not in body, "markers, not braille"


async def test_the_footer_shows_the_keys_of_the_focused_pane_and_fits(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one(KeyBar)
        text = widget_text(bar)
        assert len(text.rstrip()) <= 80 and text.rstrip().endswith("? keys q quit")
        assert "c clone" in text and "x cancel" in text
        await pilot.press("enter")
        assert isinstance(app.focused, LogView)
        await pilot.pause()
        text = widget_text(bar)
        assert "j/k scroll" in text and "/ search" in text and "n/N match" in text
        await pilot.press("tab")
        await pilot.pause()
        text = widget_text(bar)
        assert "L log" in text and "W smooth" in text and "j/k metric" in text
    app = demo_app(sweep)
    async with app.run_test(size=(160, 48)) as pilot:
        text = widget_text(app.screen.query_one(KeyBar))
        for words in ("c clone", "x cancel", "D rm", "d diff", "C compare", "s sort",
                      "o columns", "z fold", "/ filter", "M chart", "n new", "e edit",
                      "r rerun", "g group"):
            assert words in text, (words, text)


async def test_help_scrolls_to_every_line_at_80x24(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        scroller = app.screen.query_one(".fields")
        lines = scroller.query_one(".help-table").render().plain.splitlines()

        def visible() -> list[str]:
            top = round(scroller.scroll_y)
            return lines[top:top + scroller.size.height]

        assert scroller.max_scroll_y > 0 and len(lines) > scroller.size.height
        assert "dialog_cancel" not in "".join(visible())
        await pilot.press("end")
        await pilot.pause()
        assert scroller.scroll_y == scroller.max_scroll_y
        assert "dialog_cancel" in visible()[-1], "the last line can be reached"
        await pilot.press("home")
        await pilot.pause()
        assert scroller.scroll_y == 0 and "keys" in visible()[0]
        for _ in range(len(lines)):
            await pilot.press("j")
        assert scroller.scroll_y == scroller.max_scroll_y


async def test_a_run_that_fails_at_once_gets_a_toast(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        ledger = Ledger.open(demo.db)
        fast = add_run(ledger, ["python3", "tarin.py"], {}, state="failed", started=-1,
                       finished=-0.975, exit_code=2, reason="exit code 2", name="tarin")
        ledger.close()
        await until(pilot, lambda: fast in table.rows, what="the new run in the list")
        await until(pilot, lambda: app._notifications, what="a toast")
        assert [n.message for n in app._notifications] == \
            [f"run {fast} tarin failed (exit code 2)"]


async def test_a_toast_never_covers_a_dialogs_buttons(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.screen.query_one(RunTable).select_run(5)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        for i in range(3):
            app.notify(f"run {90 + i} train failed (exit code 1)", severity="error")
        await until(pilot, lambda: len(app.screen.query("Toast")) == 3, what="three toasts")
        await pilot.pause(0.3)
        buttons = [b.region for b in app.screen.query("Button")]
        toasts = [t.region for t in app.screen.query("Toast")]
        assert buttons and toasts
        assert not any(b.overlaps(t) for b in buttons for t in toasts), (buttons, toasts)


async def test_the_view_is_remembered_per_project_and_can_be_reset(sweep, tmp_path):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await sort_by(pilot, app, "val_acc")
        await pilot.press("slash", *"val_acc>0", "enter")
        await pilot.press("z", "M", "k")                       # fold, chart, metric: loss
        chart = app.screen.query_one(MetricChart)
        assert chart.metric == "loss"
        await pilot.press("escape", "o")
        await until(pilot, lambda: isinstance(app.screen, ColumnsDialog), what="columns")
        app.screen.query_one("#column-list").highlighted = 0
        await pilot.press("space", "enter")                     # hide `epochs`
        await until(pilot, lambda: app.screen.id == "main", what="columns kept")
        saved = table.choice
        assert table.select_run(7)
        await until(pilot, lambda: json.loads(view_state.path_for(
            app.settings.project_root, sweep.home).read_text())["selected"] == 7,
            what="the selection saved once the cursor rests")
    path = view_state.path_for(app.settings.project_root, sweep.home)
    data = json.loads(path.read_text())
    assert (data["sort"], data["filter"], data["chart_metric"], data["pane"]) == \
        ("val_acc", "val_acc>0", "loss", "chart")
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.pause()
        assert (table.sort_column, table.reverse, table.filter.text) == ("val_acc", True,
                                                                         "val_acc>0")
        assert table.choice == saved and table.folded == {("group", 1)}
        assert app.screen.query_one(MetricChart).preferred == "loss"
        assert "-chart" in app.screen.query_one("#panes").classes
        assert table.current.id == 7, "the run selected when the app closed"
    app = demo_app(sweep, reset_view=True)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        assert (table.sort_column, table.filter.text, table.choice, table.folded) == \
            ("id", "", None, set())
    assert not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(RunTable).sort_column == "id"
        assert any("could not be read" in n.message for n in app._notifications)


async def test_the_clone_dialog_says_which_code_in_words(demo):
    from tui.app.dialogs.clone import CloneDialog
    from tui.app.widgets.toggle import Toggle
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one(RunTable).select_run(4)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        toggle = app.screen.query_one(Toggle)
        assert toggle.render().plain == "(•) run 4's snapshot  ( ) the project as it is now"
        toggle.focus()
        await pilot.press("space")
        assert toggle.value and toggle.render().plain == \
            "( ) run 4's snapshot  (•) the project as it is now"
        assert app.screen.request().code == "current"


async def test_a_row_that_changes_state_keeps_the_best_marks_right(sweep):
    """Live updates: a run whose metric beats the best moves the mark to it."""
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await sort_by(pilot, app, "val_acc")
        ledger = Ledger.open(sweep.db)
        ledger.add_metrics(5, [("val_acc", 9, 0.95)], {"val_acc": 0.95, "loss": 0.3}, {})
        ledger.close()
        await until(pilot, lambda: table.rows[5].metrics.get("val_acc") == 0.95,
                    what="the new value")
        await until(pilot, lambda: sweep_order(table)[0] == 5, what="run 5 first")
        assert "0.95*" in row_text(table, 5) and "0.91*" not in row_text(table, 3)
        assert table.rows[5].state is RunState.RUNNING


async def test_a_live_value_moves_the_best_mark_when_the_order_stays(sweep):
    """Sorted by id (the default), a running run that beats the best value changes no row's
    place: its new value still gets the mark, and the old best loses it. The marks were
    computed only when the order changed, so a live sweep starred a value nobody had."""
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: "0.91*" in row_text(table, 3), what="run 3 the best")
        ledger = Ledger.open(sweep.db)
        ledger.add_metrics(5, [("val_acc", 9, 0.95)], {"val_acc": 0.95, "loss": 0.3}, {})
        ledger.close()
        await until(pilot, lambda: table.rows[5].metrics.get("val_acc") == 0.95,
                    what="the new value")
        assert table.sort_column == "id"
        await until(pilot, lambda: "0.95*" in row_text(table, 5), what="the mark on run 5")
        assert "0.91*" not in row_text(table, 3)


async def test_a_typo_that_exits_2_in_milliseconds_gets_a_toast(app_env, cli):
    """A real run through the engine, launched from another terminal, that fails before
    the app's next look at the store (python3 exits 2 on a missing script)."""
    app = make_app(app_env)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        run = await asyncio.to_thread(cli.launch, "python3", "tarin.py")
        await until(pilot, lambda: any(n.message.startswith(f"run {run} ") and "failed" in
                                       n.message for n in app._notifications),
                    timeout=60, what="the failure's toast")
        toast = next(n for n in app._notifications if n.message.startswith(f"run {run} "))
        assert toast.severity == "error" and "exit code 2" in toast.message
    shown = cli.run(run)
    assert shown["state"] == "failed" and shown["exit_code"] == 2


async def test_the_palette_sorts_by_any_column_and_resets_the_view(sweep):
    app = demo_app(sweep)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.press("colon")
        await until(pilot, lambda: app.screen.id == "--command-palette", what="the palette")
        await pilot.press(*"sort by loss", "enter")
        await until(pilot, lambda: table.sort_column == "loss", what="sorted by loss")
        assert table.reverse is False, "loss: lower is better, lowest first"
        assert table.current.id == 3
        assert "loss↑" in line_text(table, 0)
        await pilot.press("colon")
        await until(pilot, lambda: app.screen.id == "--command-palette", what="the palette")
        await pilot.press(*"reset the view", "enter")
        await until(pilot, lambda: table.sort_column == "id", what="the default view")
        assert any("view reset" in n.message for n in app._notifications)


async def test_a_hostile_metric_name_is_plain_text_everywhere(sweep):
    ledger = Ledger.open(sweep.db)
    evil = "\x1b]0;PWNED\x07acc\x1b[2J"
    add_run(ledger, ["x"], {"lr": 1}, state="succeeded", started=-10, finished=-5,
            metrics={evil: [0.5, 0.6]})
    ledger.close()
    app = demo_app(sweep)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        table.set_columns(["lr", evil])
        await pilot.pause()
        assert "acc" in line_text(table, 0)
        await sort_by(pilot, app, evil)
        texts = [line_text(table, y) for y in range(table.size.height)]
        texts.append(widget_text(app.screen.query_one("#summary")))
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, ColumnsDialog), what="columns")
        texts.append(widget_text(app.screen.query_one("#column-list")))
        assert not any("\x1b" in t or "PWNED" in t for t in texts), texts


async def test_the_last_column_is_not_under_the_scrollbar(sweep):
    """With more runs than rows the list has a scrollbar; the columns were laid out over the
    whole width, so the rightmost one lost its last cell under it: its title (`los`) and
    the best mark of its best run."""
    app = demo_app(sweep)
    async with app.run_test(size=(80, 14)) as pilot:
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: table.max_scroll_y > 0, what="a list that scrolls")
        for width in range(50, 101):
            await pilot.resize_terminal(width, 14)
            await pilot.pause()
            used = sum(c.width for c in table.columns) + len(table.columns) - 1
            assert used <= table.scrollable_content_region.width, (width, table.columns)
