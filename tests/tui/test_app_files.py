"""The app's files of a run, against a real engine and a real run: `f` lists what the run wrote
(hostile names made plain), Enter shows a CSV as a table and a text file safely, `p` pulls."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tests.tui.apps import make_app, until, widget_text
from tui.app.screens.file_view import FileViewScreen
from tui.app.screens.files import FilesScreen

WRITER = r'''import os
os.makedirs("results", exist_ok=True)
with open("results/metrics.csv", "w") as out:
    out.write("epoch,loss,note\n1,0.5,\x1b]0;pwned\x07title\n2,0.25,\x1b[2Jclear\n")
with open("model.bin", "wb") as out:
    out.write(b"\0" * 5000)
with open("evil\x1b[31mname.txt", "w") as out:
    out.write("line one\r\x1b]52;c;c3RvbGVu\x07line two\n")
'''


async def _open(pilot, app, run_id: int) -> FilesScreen:
    table = app.screen.table
    await until(pilot, lambda: run_id in table.rows, what="the run in the list")
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, FilesScreen) and app.screen.files,
                what="the run's files listed")
    return app.screen


def _writer_run(cli, project) -> int:
    """A run of WRITER, ended: the files every test here looks at."""
    (project / "write.py").write_text(WRITER)
    run_id = cli.launch("python3", "write.py")
    cli.wait_state(run_id, "succeeded")
    return run_id


async def test_files_of_a_run_are_listed_viewed_safely_and_pulled(app_env, cli, project):
    run_id = _writer_run(cli, project)
    app = make_app(app_env)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, app, run_id)
        paths = [f["path"] for f in screen.files]
        assert paths == ["evil\x1b[31mname.txt", "model.bin", "results/metrics.csv"]
        shown = widget_text(screen.query_one(DataTable))
        assert "\x1b" not in shown and "evilname.txt" in shown and "5.0 KB" in shown

        for _ in range(paths.index("results/metrics.csv")):
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, FileViewScreen), what="the viewer")
        table = app.screen.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["epoch", "loss", "note"]
        cells = [str(cell) for row in range(table.row_count) for cell in table.get_row_at(row)]
        assert cells == ["1", "0.5", "title", "2", "0.25", "clear"], "escapes are gone"
        await pilot.press("escape")

        await until(pilot, lambda: isinstance(app.screen, FilesScreen), what="back to files")
        await pilot.press("up", "up", "enter")
        await until(pilot, lambda: isinstance(app.screen, FileViewScreen), what="the viewer")
        text = widget_text(app.screen.query_one("#file-text"))
        assert "line two" in text and "\x1b" not in text and "c3RvbGVu" not in text
        await pilot.press("j", "k", "space", "pageup", "q")

        await until(pilot, lambda: isinstance(app.screen, FilesScreen), what="back to files")
        await pilot.press("a")
        await until(pilot, lambda: "write.py" in [f["path"] for f in app.screen.files],
                    what="the unchanged code files too")
        await pilot.press("a", "r")
        await until(pilot, lambda: "write.py" not in [f["path"] for f in app.screen.files],
                    what="only what the run wrote again")
        await pilot.press("p")
        out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
        await until(pilot, lambda: (out / "model.bin").exists(), what="the pull")
        await until(pilot, lambda: any("in " in n.message and "sent" in n.message
                                       for n in app._notifications), what="the pull's toast")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "main", what="back to the runs")
    assert (out / "model.bin").read_bytes() == b"\0" * 5000
    assert (out / "results" / "metrics.csv").read_bytes() == \
        (Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "code" / "results" /
         "metrics.csv").read_bytes()


DIFFER = r'''import os, sys
os.makedirs("results", exist_ok=True)
with open("results/metrics.csv", "w") as out:
    out.write("epoch,loss\n1,0.5\n2,%s\n" % sys.argv[1])
with open("same.txt", "w") as out:
    out.write("identical\n")
if sys.argv[1] == "0.2":
    with open("extra.bin", "wb") as out:
        out.write(b"\0\1")
'''


async def test_the_diff_of_two_runs_includes_their_outputs(app_env, cli, project):
    from tui.app.screens.diff import DiffScreen
    (project / "differ.py").write_text(DIFFER)
    first = cli.launch("python3", "differ.py", "0.3")
    second = cli.launch("python3", "differ.py", "0.2")
    for run_id in (first, second):
        cli.wait_state(run_id, "succeeded")
    app = make_app(app_env)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.table
        await until(pilot, lambda: {first, second} <= set(table.rows), what="both runs")
        table.select_run(first)
        await pilot.press("space")
        table.select_run(second)
        await pilot.press("space", "d")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen), what="the diff")
        section = app.screen.query_one("#diff-outputs")
        await until(pilot, lambda: "differs" in widget_text(section), what="the outputs")
        shown = widget_text(section)
    assert "differs    results/metrics.csv" in shown
    assert "-2,0.3" in shown and "+2,0.2" in shown
    assert "same       same.txt" in shown and "only in B  extra.bin" in shown


async def test_j_and_k_move_in_the_files_list(app_env, cli, project):
    """j/k move in the run list, the log, the viewer and help; in the files list they did
    nothing, so Enter kept opening the first file."""
    run_id = _writer_run(cli, project)
    app = make_app(app_env)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, app, run_id)
        await pilot.press("j", "j", "k", "j", "enter")
        await until(pilot, lambda: isinstance(app.screen, FileViewScreen), what="the viewer")
        await until(pilot, lambda: app.screen.query(DataTable), what="results/metrics.csv")
        assert screen.table.cursor_row == 2
