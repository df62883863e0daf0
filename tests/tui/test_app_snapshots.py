"""What the main screens look like, at 80x24 and 160x48 (pytest-textual-snapshot).

The store has fixed content and the app a fixed clock, so the pictures are the same on
every machine. After a deliberate change of look: `pytest tests/tui --snapshot-update`,
then look at the new pictures before committing them.
"""

import pytest

from tests.tui.apps import demo_app
from tui.app.widgets.prompt_bar import PromptBar
from tui.app.widgets.run_table import RunTable


def _select(run_id, *keys):
    async def run_before(pilot):
        await pilot.pause()
        pilot.app.screen.query_one(RunTable).select_run(run_id)
        for bar in pilot.app.screen.query(PromptBar):
            bar.cursor_blink = False
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen(snap_compare, demo, size):
    assert snap_compare(demo_app(demo), terminal_size=size, run_before=_select(5))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_metrics_with_a_marked_run_overlaid(snap_compare, demo, size):
    keys = ("space", "k", "k", "M")                         # mark run 1, select run 3
    assert snap_compare(demo_app(demo), terminal_size=size, run_before=_select(1, *keys))


def test_clone_dialog(snap_compare, demo):
    assert snap_compare(demo_app(demo), terminal_size=(80, 24), run_before=_select(4, "c"))


def test_diff_of_a_clone_and_its_parent(snap_compare, demo):
    assert snap_compare(demo_app(demo), terminal_size=(80, 24), run_before=_select(3, "d"))


def test_help(snap_compare, demo):
    assert snap_compare(demo_app(demo), terminal_size=(80, 24),
                        run_before=_select(5, "question_mark"))


def test_filter_and_lineage(snap_compare, demo):
    keys = ("g", "slash", *"train")
    assert snap_compare(demo_app(demo), terminal_size=(80, 24), run_before=_select(5, *keys))


def test_a_forty_column_pane(snap_compare, demo):
    assert snap_compare(demo_app(demo), terminal_size=(40, 24), run_before=_select(5))


@pytest.mark.parametrize("theme", ["light", "contrast", "ansi16"])
def test_themes(snap_compare, demo, theme):
    app = demo_app(demo, theme=theme)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_select(2))


@pytest.fixture
def sweep(tmp_path):
    from tests.tui.sweep_store import sweep_store
    return sweep_store(tmp_path / "sweep-store")


def _keys(*keys):
    async def run_before(pilot):
        await pilot.pause()
        for bar in pilot.app.screen.query(PromptBar):
            bar.cursor_blink = False
        await pilot.press(*keys)
        await pilot.pause()
    return run_before


SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


@SIZES
def test_results_ranked_by_val_acc(snap_compare, sweep, size):
    """`s` and val_acc's number: the sweep best first, the best run selected and marked."""
    assert snap_compare(demo_app(sweep), terminal_size=size, run_before=_keys("s", "5"))


@SIZES
def test_a_folded_sweep_row(snap_compare, sweep, size):
    assert snap_compare(demo_app(sweep), terminal_size=size, run_before=_keys("s", "5", "z"))


@SIZES
def test_compare_three_runs(snap_compare, sweep, size):
    keys = ("s", "5", "space", "space", "space", "C")
    assert snap_compare(demo_app(sweep), terminal_size=size, run_before=_keys(*keys))


def test_sort_list(snap_compare, sweep):
    assert snap_compare(demo_app(sweep), terminal_size=(80, 24), run_before=_keys("s"))


def test_columns_dialog(snap_compare, sweep):
    assert snap_compare(demo_app(sweep), terminal_size=(80, 24),
                        run_before=_keys("o", "down", "space", "down", "down", "down", "right"))


def test_chart_without_colour(snap_compare, sweep, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    keys = ("s", "5", "space", "space", "k", "k", "M")
    assert snap_compare(demo_app(sweep), terminal_size=(80, 24), run_before=_keys(*keys))
