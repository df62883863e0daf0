"""The run list: virtual, updated in place, narrow panes, GPU figures, themes and keymaps."""

import os

from core.paths import StorePaths
from core.store.ledger import Ledger
from core.models import RunState
from tests.standins import nvidia_smi
from tests.tui.apps import demo_app, make_app, row_text, until, widget_text
from tests.tui.fixture_store import bulk_store
from tui.app.dialogs.clone import CloneDialog
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.run_table import RunTable


async def test_a_changed_run_repaints_its_own_line_only(demo):
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.pause()
        painted = []
        original = table.render_line

        def recording(y):
            painted.append(y)
            return original(y)

        table.render_line = recording
        ledger = Ledger.open(demo.db)
        ledger.add_metrics(4, [("loss", 16, 0.25)], {"loss": 0.25}, {})
        ledger.close()
        await until(pilot, lambda: table.rows[4].metrics == {"loss": 0.25}, what="the update")
        await until(pilot, lambda: painted, what="a repaint")
        await pilot.pause()                                 # let the frame finish
        line_of_4 = table.index_of[4] + 1 - round(table.scroll_y)
        assert set(painted) == {line_of_4}, painted
        assert "0.25" in row_text(table, 4)


async def test_ten_thousand_runs_open_and_only_visible_rows_render(tmp_path):
    paths = bulk_store(tmp_path / "big", 10_000)
    app = demo_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: len(table.shown) == 10_000, what="10,000 rows")
        assert table.current.id == 10_000
        await pilot.press("G")
        assert table.current.id == 1 and "←" not in row_text(table, 1)
        painted = []
        original = table.render_line
        table.render_line = lambda y: painted.append(y) or original(y)
        table.refresh()
        await until(pilot, lambda: painted, what="a repaint")
        assert max(painted) < table.size.height, "only lines on screen are drawn"
        await pilot.press("slash", *"seed=7", "enter")
        assert len(table.shown) == 200


async def test_a_forty_column_pane_still_lists_runs(demo):
    app = demo_app(demo)
    async with app.run_test(size=(40, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.pause()
        text = widget_text(table)
        assert "ID" in text and "NAME" in text and "loss" in text
        line = row_text(table, 5)
        assert "5" in line and "train" in line and "0.3954" in line and len(line) <= 40


async def test_no_color_draws_the_chart_without_colour(demo, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        app.screen.query_one(RunTable).select_run(1)
        await pilot.press("M")
        chart = app.screen.query_one(MetricChart)
        text = chart.render()
        assert "loss" in text.plain and not any(span.style for span in text.spans
                                                if str(span.style) not in ("bold", ""))


async def test_a_broken_theme_gives_a_notice_and_the_default(demo, tmp_path, monkeypatch):
    themes_dir = tmp_path / "config" / "runyard" / "themes"
    themes_dir.mkdir(parents=True)
    (themes_dir / "mine.toml").write_text('primary = "#12345"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = make_app(demo, theme="mine", revive_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "quiet"
        notices = " ".join(n.message for n in app._notifications)
        assert "mine.toml" in notices and "'mine' is not available" in notices
    (themes_dir / "mine.toml").unlink()
    for name in ("light", "contrast", "ansi16"):
        app = make_app(demo, theme=name, revive_engine=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.theme == name and not app._notifications


async def test_keys_remapped_in_the_config(demo, tmp_path, monkeypatch):
    config = tmp_path / "config" / "runyard" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[keys]\nclone = "K"\nquit = "ctrl+q"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = make_app(demo, revive_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c", "q")
        assert not isinstance(app.screen, CloneDialog) and app.is_running
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog on K")


async def test_gpu_columns_show_live_figures(app_env, cli, env, tmp_path, monkeypatch):
    """No GPU exists here: a stand-in nvidia-smi prints the documented query format."""
    bin_dir = nvidia_smi(tmp_path / "bin", memory_used_mb=12288, utilization_pct=87)
    path = f"{bin_dir}{os.pathsep}{env['PATH']}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("RUNYARD_GPU_POLL", "0.2")
    cli.env = {**env, "PATH": path, "RUNYARD_GPU_POLL": "0.2"}
    run_id = cli.launch("sleep", "60", opts=("--gpus", "1"))
    cli.wait_state(run_id, "running")
    app = make_app(app_env)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await until(pilot, lambda: run_id in table.rows and table.gpu_figures, timeout=30,
                    what="GPU figures from the engine")
        assert "GPU" in widget_text(table).splitlines()[0]
        assert "87% 12.0G" in row_text(table, run_id)
        assert "local:0" in row_text(table, run_id)
    cli("cancel", str(run_id))


async def test_an_empty_store_and_keys_that_need_a_run(tmp_path):
    from core.paths import StorePaths
    app = demo_app(StorePaths(tmp_path / "no-store-yet"))
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("c", "x", "d", "r", "e", "M", "tab", "enter", "escape", "s", "escape", "g",
                    "j", "C", "o", "escape", "A"):
            await pilot.press(key)
        assert app.is_running and app.screen.id == "main"
        notices = [n.message for n in app._notifications]
        assert notices.count("no run selected") == 4, notices
        assert any("diff:" in n for n in notices) and any("compare:" in n for n in notices)


async def test_a_filtered_list_drops_a_run_that_stops_matching(demo):
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunTable)
        await pilot.press("slash", *"running", "enter")
        assert sorted(table.index_of) == [4, 5]
        ledger = Ledger.open(demo.db)
        ledger.transition(5, RunState.SUCCEEDED, exit_code=0)
        ledger.close()
        await until(pilot, lambda: sorted(table.index_of) == [4], what="run 5 to leave the list")


async def test_hostile_names_reach_the_screen_as_plain_text(demo):
    from tests.tui.fixture_store import add_run
    ledger = Ledger.open(demo.db)
    run_id = add_run(ledger, ["x"], {}, state="running", started=-10, finished=None,
                     name="\x1b]0;PWNED\x07[bold]evil[/bold]\x1b[2J")
    ledger.close()
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        assert "[bold]evil[/bold]" in row_text(table, run_id)
        ledger = Ledger.open(demo.db)
        ledger.transition(run_id, RunState.FAILED, reason="\x1b[31mred\x1b[0m reason", exit_code=1)
        ledger.close()
        await until(pilot, lambda: app._notifications, what="the toast")
        message = next(iter(app._notifications)).message
        assert message == f"run {run_id} [bold]evil[/bold] failed (red reason)"
        header = widget_text(app.screen.query_one("#detail-header"))
        assert "\x1b" not in header and "PWNED" not in header


async def test_runs_ending_together_share_one_toast_per_kind(demo):
    from dataclasses import replace
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        rows = sorted(app.screen.query_one(RunTable).rows.values(), key=lambda r: r.id)[:6]
        ended = [replace(r, state=RunState.SUCCEEDED) for r in rows[:4]] + \
            [replace(rows[4], state=RunState.FAILED, reason="exit code 3"),
             replace(rows[5], state=RunState.CANCELLED)]
        app.runs_ended(ended[::-1])
        await pilot.pause()
        messages = [n.message for n in app._notifications]
    ids = ", ".join(str(r.id) for r in rows[:4])
    assert messages == [f"run {rows[4].id} {rows[4].name} failed (exit code 3)",
                        f"4 runs ended: 4 succeeded ({ids})"], "a cancel the user asked for: none"


async def test_an_empty_store_says_how_to_launch_the_first_run(tmp_path):
    """A new user's first look: the list was blank, the lower pane said `no run selected`
    and the footer at 80 columns leaves `n new` out, so nothing said how to begin."""
    paths = StorePaths(tmp_path / "store")
    paths.ensure()
    Ledger.open(paths.db).close()
    app = demo_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "n launches one" in screen_text(app), what="how to begin")
        await pilot.press("n")
        await until(pilot, lambda: "new run in" in screen_text(app), what="the new run dialog")
        assert "ython3 train.py" in screen_text(app), "its example runs on stock Debian"  # p: the cursor


def screen_text(app) -> str:
    return app.export_screenshot().replace("\xa0", " ").replace("&#160;", " ")


async def test_the_header_says_a_runs_state_once_with_its_reason(demo):
    # The engine's reason for a cancel repeats the state ("cancelled (received SIGTERM)"):
    # the header read "cancelled 0:50 (cancelled (received SIGTERM))".
    from tests.tui.fixture_store import add_run
    ledger = Ledger.open(demo.db)
    run_id = add_run(ledger, ["x"], {}, state="cancelled", started=-60, finished=-10,
                     reason="cancelled (received SIGTERM)")
    ledger.close()
    app = demo_app(demo)
    async with app.run_test(size=(120, 30)) as pilot:
        app.screen.query_one(RunTable).select_run(run_id)
        header = app.screen.query_one("#detail-header")
        await until(pilot, lambda: f"run {run_id}" in widget_text(header), what="the header")
        text = widget_text(header)
        assert "cancelled 0:50 (received SIGTERM)" in text and text.count("cancelled") == 1


async def test_a_queued_run_says_what_it_waits_for(demo):
    # A queued --after run said only "queued": nothing told which run held it back.
    import json
    from tests.tui.fixture_store import _set, add_run
    ledger = Ledger.open(demo.db)
    run_id = add_run(ledger, ["x"], {}, state="queued", started=None, finished=None)
    _set(ledger.conn, run_id, depends_on=json.dumps([4, 5]), after_groups=json.dumps([2]))
    ledger.conn.commit()
    ledger.close()
    app = demo_app(demo)
    async with app.run_test(size=(160, 30)) as pilot:
        app.screen.query_one(RunTable).select_run(run_id)
        header = app.screen.query_one("#detail-header")
        await until(pilot, lambda: f"run {run_id}" in widget_text(header), what="the header")
        assert "waits for runs 4, 5, every run of group 2" in widget_text(header)
