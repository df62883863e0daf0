"""The log pane: follows the tail live, scrolls back by offset, searches, and stays safe."""

import re

from tests.tui.apps import demo_app, until, widget_text
from tests.tui.fixture_store import write_log
from tui.app.widgets.log_view import LogView
from tui.app.widgets.run_table import RunTable

HOSTILE = (b"\x1b[32mgreen\x1b[0m plain \x1b]0;PWNED-TITLE\x07\x1b]52;c;ZXZpbA==\x07"
           b"\x1b[?1049h\x1b[2J\x1b[?25l\x1b[10;10H\x1b[?1000h after\n"
           b" 10%|#    |\r 50%|#####|\r100%|#########| done\n"
           b"\xff\xfe bad utf8\n"
           b"\x1bP+q544e\x1b\\\x1b_apc\x1b\\\x9b31m c1 \x07bell\x08\x08ok\n")


async def _open(pilot, app, run_id):
    table = app.screen.query_one(RunTable)
    table.select_run(run_id)
    log = app.screen.query_one(LogView)
    await pilot.press("enter")
    return log


async def test_scrolling_back_and_following(demo):
    path = write_log(demo, 5, b"".join(b"line %05d\n" % i for i in range(5000)))
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _open(pilot, app, 5)
        await until(pilot, lambda: "line 04999" in widget_text(log), what="the tail")
        first = lambda: widget_text(log).splitlines()[0].strip()    # noqa: E731
        await pilot.press("home")
        assert first() == "line 00000" and not log.follow
        await pilot.press("j", "down")
        assert first() == "line 00002"
        await pilot.press("k")
        assert first() == "line 00001"
        await pilot.press("pagedown")
        assert first() == f"line {1 + log.size.height - 1:05d}"
        await pilot.press("pageup")
        assert first() == "line 00001"
        await pilot.press("l")
        assert log.x == 8 and first() == "01"
        await pilot.press("h")
        assert log.x == 0
        with open(path, "ab") as handle:                  # new output while scrolled back
            handle.write(b"line 05000\n")
        size = path.stat().st_size
        await until(pilot, lambda: log._file_size == size, what="the view to see the new size")
        await pilot.pause()
        assert first() == "line 00001", "a scrolled-back view stays where it is"
        await pilot.press("G")
        assert log.follow
        with open(path, "ab") as handle:
            handle.write(b"line 05001\n")
        await until(pilot, lambda: "line 05001" in widget_text(log), what="the new line")


async def test_search_the_log(demo):
    lines = [b"step %d" % i if i % 1000 else b"checkpoint %d saved" % i for i in range(4500)]
    write_log(demo, 5, b"\n".join(lines) + b"\n")
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _open(pilot, app, 5)
        await until(pilot, lambda: "step 4499" in widget_text(log), what="the tail")
        await pilot.press("slash", *"CHECKPOINT", "enter")
        await until(pilot, lambda: "checkpoint 4000 saved" in widget_text(log), what="match")
        assert app.focused is log and not log.follow
        await pilot.press("n")                              # older
        await until(pilot, lambda: "checkpoint 3000 saved" in widget_text(log), what="older")
        await pilot.press("n", "n")
        await until(pilot, lambda: "checkpoint 1000 saved" in widget_text(log), what="older")
        await pilot.press("N")                              # newer
        await until(pilot, lambda: "checkpoint 2000 saved" in widget_text(log), what="newer")
        await pilot.press("n", "n", "n")
        await until(pilot, lambda: "no more matches" in log.note, what="the end of matches")
        await pilot.press("escape")                         # drop the search, n is "new" again
        assert not log.search_text
        await pilot.press("escape")
        assert app.focused is not log


async def test_hostile_output_reaches_the_screen_as_text_only(demo):
    write_log(demo, 5, HOSTILE)
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _open(pilot, app, 5)
        await until(pilot, lambda: "bad utf8" in widget_text(log), what="the hostile log")
        strips = [log.render_line(y) for y in range(4)]
        text = "\n".join(s.text for s in strips)
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
        assert "PWNED" not in text and "ZXZpbA" not in text and "544e" not in text
        lines = text.splitlines()
        assert lines[0].startswith("green plain  after")
        assert lines[1].startswith("100%|#########| done"), "a progress bar is one line"
        assert lines[2].startswith("\ufffd\ufffd bad utf8")
        assert "ok" in lines[3] and "apc" not in lines[3]
        green = [seg for seg in strips[0] if seg.text == "green"]
        assert green and green[0].style.color is not None, "colours (SGR) stay"


async def test_a_ten_megabyte_line_without_newline(demo):
    write_log(demo, 5, b"loss=1\n" + b"x" * 10_000_000)
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _open(pilot, app, 5)
        await until(pilot, lambda: "more on this line" in widget_text(log), what="the cut line")
        assert sum(len(b) for b in log.file._blocks.values()) <= 4 * 1024 * 1024
        await pilot.press("home")
        assert widget_text(log).startswith("loss=1")
        await pilot.press("j", "G", "k")
        assert "more on this line" in widget_text(log)


async def test_a_carriage_return_progress_bar_updates_one_line(demo):
    path = write_log(demo, 5, b"start\n 10%")
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _open(pilot, app, 5)
        await until(pilot, lambda: " 10%" in widget_text(log), what="the bar")
        for percent in (40, 70, 100):
            with open(path, "ab") as handle:
                handle.write(b"\r %d%%" % percent)
            await until(pilot, lambda: f" {percent}%" in widget_text(log), what=f"{percent}%")
            assert [line.rstrip() for line in widget_text(log).splitlines()[:3]] == \
                ["start", f" {percent}%", ""]


async def test_moving_to_a_run_whose_log_has_the_same_line_lengths_shows_its_own_log(demo):
    # A sweep prints lines of one width (`epoch=1 loss=0.4312`): two logs can have the same
    # byte layout. What reaches the screen (the compositor's output, not render_line called
    # by hand) must be the selected run's own lines.
    write_log(demo, 3, b"".join(b"step=%02d loss=0.%04d\n" % (i, 3000 + i) for i in range(40)))
    write_log(demo, 5, b"".join(b"step=%02d loss=0.%04d\n" % (i, 5000 + i) for i in range(40)))
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        table.select_run(5)
        await until(pilot, lambda: "loss=0.5039" in app.export_screenshot(), what="run 5's log")
        table.select_run(3)
        await until(pilot, lambda: "loss=0.3039" in app.export_screenshot(), what="run 3's log")
        assert "loss=0.5039" not in app.export_screenshot()
