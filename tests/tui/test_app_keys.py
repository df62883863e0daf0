"""Every binding of the app, driven by its keys (the engine-bound ones in test_app_engine).

BINDING_TESTS says which test drives each binding id; a test checks it covers them all.
"""

from core.models import RunState
from tests.tui.apps import demo_app, line_text, until, widget_text
from tui.app import keys
from tui.app.dialogs.sort_pick import HOTKEYS, SortDialog
from tui.app.screens.diff import DiffScreen
from tui.app.screens.help import HelpScreen
from tui.app.widgets.log_view import LogView
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.run_table import RunTable

BINDING_TESTS = {
    "test_app_engine.py::test_clone_and_tweak_one_param_takes_the_key_the_value_and_enter":
        {"clone"},
    "test_app_engine.py::test_rerun_edit_and_new_run": {"rerun", "edit", "new"},
    "test_app_engine.py::test_cancel_asks_first_and_defaults_to_no": {"cancel"},
    "test_app_engine.py::test_runs_removed_with_tui_rm_or_the_key_leave_the_list": {"remove"},
    "test_app_engine.py::test_quit_stops_no_run": {"quit"},
    "test_app_engine.py::test_clone_dialog_escape_launches_nothing": {"dialog_cancel"},
    "test_app_engine.py::test_a_sweep_folds_and_a_new_one_shows_its_plan_first":
        {"fold", "fold_all"},
    "test_moving_marking_and_sorting": {"cursor_down", "cursor_up", "page_down", "page_up",
                                        "first", "last", "mark", "unmark_all", "sort",
                                        "sort_reverse", "group"},
    "test_filter_by_text_state_tag_target_and_param": {"filter"},
    "test_panes_log_and_metrics": {"next_pane", "previous_pane", "focus_log", "show_metrics",
                                   "log_back", "chart_back", "metric_next", "metric_previous"},
    "test_log_keys.py::test_scrolling_back_and_following": {
        "log_down", "log_up", "log_page_down", "log_page_up", "log_left", "log_right",
        "log_top", "log_follow"},
    "test_log_keys.py::test_search_the_log": {"log_search", "log_older", "log_newer"},
    "test_help_palette_and_diff": {"help", "palette", "diff"},
    "test_app_files.py::test_files_of_a_run_are_listed_viewed_safely_and_pulled": {
        "files", "files_view", "files_pull", "files_all", "files_refresh", "files_back",
        "viewer_down", "viewer_up", "viewer_page_down", "viewer_page_up", "viewer_back"},
    "test_app_results.py::test_compare_any_number_of_runs_table_and_curves":
        {"compare", "chart_log", "chart_smooth"},
    "test_app_results.py::test_columns_any_param_or_metric_as_last_best_min_or_max":
        {"columns"},
    "test_app_results.py::test_marks_say_how_many_and_how_many_the_filter_hides": {"mark_all"},
}


def test_every_binding_is_driven_by_a_test():
    driven = set().union(*BINDING_TESTS.values())
    assert driven == keys.ALL_IDS, (keys.ALL_IDS - driven, driven - keys.ALL_IDS)


def test_no_binding_uses_the_tmux_or_screen_prefix():
    for _scope, key, in_force in keys.effective({}):
        assert not {"ctrl+b", "ctrl+a"} & set(in_force.split(",")), key.id


async def test_moving_marking_and_sorting(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        order = [row.id for row, _ in table.shown]
        assert order == [8, 7, 6, 5, 4, 3, 2, 1], "newest first"
        await pilot.press("j", "down")
        assert table.current.id == 6
        await pilot.press("k")
        assert table.current.id == 7
        await pilot.press("G")
        assert table.current.id == 1
        await pilot.press("home")
        assert table.current.id == 8
        await pilot.press("pagedown")
        assert table.current.id < 8
        await pilot.press("pageup")
        assert table.current.id == 8
        await pilot.press("space", "space")                  # mark two, moving down
        assert table.marked == {8, 7} and table.current.id == 6
        assert "●" in line_text(table, 1)
        assert "2 marked" in widget_text(app.screen.query_one("#summary"))
        await pilot.press("U")
        assert not table.marked
        await pilot.press("s")                              # pick a column: state
        await until(pilot, lambda: isinstance(app.screen, SortDialog), what="the sort list")
        names = [name for name, _ in app.screen.choices]
        await pilot.press(HOTKEYS[names.index("state")])
        await until(pilot, lambda: app.screen.id == "main", what="back from the list")
        assert table.sort_column == "state"
        assert [r.state for r, _ in table.shown][:2] == [RunState.RUNNING] * 2
        await pilot.press("S")
        assert [r.state for r, _ in table.shown][-1] is RunState.RUNNING
        await pilot.click(RunTable, offset=(8, 0))          # the NAME header sorts by name
        assert table.sort_column == "name"
        await pilot.click(RunTable, offset=(8, 3))          # a row: select it
        assert table.current is table.shown[2][0]
        await pilot.press("g")                              # group by lineage
        shown = [(row.id, depth) for row, depth in table.shown]
        assert shown.index((3, 1)) > shown.index((1, 0)) and (4, 2) in shown, shown
        assert "└ train" in widget_text(table)


async def test_filter_by_text_state_tag_target_and_param(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.press("slash", *"lr<0.05", "enter")
        assert sorted(r.id for r, _ in table.shown) == [3, 4, 8]
        assert app.focused is table, "enter keeps the filter and goes back to the list"
        await pilot.press("slash")
        await pilot.press("ctrl+u", *"running")
        assert sorted(r.id for r, _ in table.shown) == [4, 5]
        await pilot.press("escape")
        assert len(table.shown) == 8, "escape clears the filter"
        await pilot.press("slash", *"eval", "enter")
        assert [r.id for r, _ in table.shown] == [7]
        await pilot.press("slash", "ctrl+u", *"target:local failed", "enter")
        assert [r.id for r, _ in table.shown] == [2]


async def test_panes_log_and_metrics(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table, log, chart = (screen.query_one(t) for t in (RunTable, LogView, MetricChart))
        await pilot.press("j", "j", "j")                    # run 5, running, with a log
        assert table.current.id == 5
        await until(pilot, lambda: "loss=0.3925" in widget_text(log), what="run 5's log tail")
        await pilot.press("enter")
        assert app.focused is log
        await pilot.press("escape")
        assert app.focused is table
        await pilot.press("tab")
        assert app.focused is log
        await pilot.press("tab")
        assert app.focused is chart and chart.metric == "loss"
        assert "■ 5 train" in widget_text(chart)
        await pilot.press("tab")
        assert app.focused is table
        await pilot.press("shift+tab")
        assert app.focused is chart
        await pilot.press("escape")
        assert app.focused is table
        await pilot.press("G", "M")                         # run 1 has loss and acc
        assert app.focused is chart and chart.metric == "loss"
        await pilot.press("j")
        assert chart.metric == "acc"
        await pilot.press("k")
        assert chart.metric == "loss"
        await pilot.press("escape", "space", "k", "k")      # mark run 1; overlay it on run 3
        assert table.current.id == 3
        await pilot.press("M")
        text = widget_text(chart)
        assert "■ 3 train" in text and "■ 1 train" in text, text


async def test_help_palette_and_diff(demo):
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        shown = widget_text(app.screen.query_one(".fields").query_one("Static"))
        for key in ("clone", "log_search", "quit", "palette"):
            assert key in shown
        await pilot.press("escape")
        await pilot.press("colon")
        await until(pilot, lambda: app.screen.id == "--command-palette", what="the palette")
        await pilot.press(*"sort by name", "enter")
        await until(pilot, lambda: app.screen.id == "main", what="back from the palette")
        assert app.screen.query_one(RunTable).sort_column == "name"
        table = app.screen.query_one(RunTable)
        table.select_run(3)                                 # a clone of run 1
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen), what="the diff")
        diff = app.screen.diff
        assert (diff.left.id, diff.right.id) == (1, 3)
        assert diff.params == [("lr", 0.1, 0.03)]
        loss = next(m for m in diff.metrics if m[0] == "loss")
        assert loss[3] == loss[2] - loss[1]
        await pilot.press("q")
        await until(pilot, lambda: app.screen.id == "main", what="diff closed")
        await pilot.press("space", "space", "d")            # two marked runs: 3 and 2... by id
        await until(pilot, lambda: isinstance(app.screen, DiffScreen), what="the diff")
        assert (app.screen.diff.left.id, app.screen.diff.right.id) == tuple(sorted(table.marked))


async def test_a_wide_tall_screen_shows_log_and_chart_together_a_small_one_switches(demo):
    app = demo_app(demo)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        log, chart = screen.query_one(LogView), screen.query_one(MetricChart)
        await pilot.press("j", "j", "j")                    # run 5, running, with a log
        await until(pilot, lambda: "loss=0.3925" in widget_text(log), what="run 5's log tail")
        assert log.region.height > 15 and chart.region.height > 10
        assert chart.region.y > log.region.y and "■ 5 train" in widget_text(chart)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert log.display and not chart.display
        await pilot.press("M")
        assert chart.display and not log.display and app.focused is chart
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert log.display and chart.display and app.focused is chart
