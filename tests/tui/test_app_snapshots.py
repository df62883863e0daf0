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
