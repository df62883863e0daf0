"""The app against a real engine with real runs: clone-and-tweak, rerun, edit, new, cancel.

Each launch goes through the engine; the new run must appear in the list at once, with
its parent, and really start while the other runs keep going.
"""

import asyncio
import stat
import sys

from core.models import RunState
from tests.helpers import process_alive
from tests.tui.apps import make_app, row_text, until, widget_text
from tui.app.dialogs.clone import CloneDialog
from tui.app.dialogs.confirm import ConfirmDialog
from tui.app.dialogs.new_run import NewRunDialog
from tui.app.screens.diff import DiffScreen

# sys.executable, never a bare `python` (stock Debian has python3 only)
LONG = (sys.executable, "train.py", "--lr", "0.1", "--epochs", "200", "--delay", "0.05")


def _state(cli, run_id):
    return cli.run(run_id)["state"]


async def _listed(pilot, table, run_id):
    await until(pilot, lambda: run_id in table.rows, what=f"run {run_id} in the list")


async def test_clone_and_tweak_one_param_takes_the_key_the_value_and_enter(app_env, cli):
    parent = cli.launch(*LONG)
    cli.wait_state(parent, "running")
    app = make_app(app_env)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, parent)
        assert table.current.id == parent
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        assert app.focused.id == "param-0" and app.focused.value == "0.1"     # lr
        await pilot.press("0", ".", "0", "3", "enter")                        # value, Enter
        await until(pilot, lambda: table.current.id != parent, what="the clone selected")
        child = table.current
        assert child.parent == parent and child.params["lr"] == 0.03
        assert f"←{parent}" in row_text(table, child.id), "the new row shows its parent"
        await until(pilot, lambda: table.rows[child.id].state is RunState.RUNNING, timeout=60,
                    what="the clone running, as the app shows it")
        assert table.rows[parent].state is RunState.RUNNING, "the parent keeps running"
    assert _state(cli, parent) == "running" and _state(cli, child.id) == "running"
    shown = cli.run(child.id)
    assert shown["command"][:4] == [sys.executable, "train.py", "--lr", "0.03"]


async def test_clone_dialog_changes_a_later_field_target_gpus_and_code(app_env, cli, project):
    parent = cli.launch(sys.executable, "train.py", "--lr", "0.1", "--epochs", "1", "--delay", "0")
    cli("wait", str(parent))
    (project / "train.py").write_text((project / "train.py").read_text() + "\n# edited\n")
    app = make_app(app_env)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, parent)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        await pilot.press("tab", "3", *["down"] * 6, "space")   # epochs=3; code: working tree
        assert app.focused.id == "current"
        await pilot.press("enter")
        await until(pilot, lambda: table.current.id != parent, what="the clone selected")
        child = table.current.id
        await pilot.press("d")                                 # diff with its parent
        await until(pilot, lambda: isinstance(app.screen, DiffScreen), what="the diff")
        diff = app.screen.diff
        assert diff.params == [("epochs", 1, 3)]
        change = next(f for f in diff.files if f.path == "train.py")
        assert change.status == "changed" and "+# edited" in change.lines
        assert "+# edited" in widget_text(app.screen.query_one("#diff-body").children[2])
    data = cli.json("show", str(child), "--json")["run"]
    assert data["params"]["epochs"] == 3 and data["parent"] == parent
    assert data["snapshot"] != cli.run(parent)["snapshot"], "code: the working tree as it is now"


async def test_clone_dialog_escape_launches_nothing(app_env, cli):
    parent = cli.launch("true")
    cli("wait", str(parent))
    app = make_app(app_env)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, parent)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CloneDialog), what="dialog closed")
    assert [r["id"] for r in cli.json("status", "--json", "--all")["runs"]] == [parent]


async def test_rerun_edit_and_new_run(app_env, cli, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^lr = 0.1$/lr = 0.07/; /^DROP = /d; "
                      "s/^tags = .*/tags = [\"keep\"]/; "
                      "s/\"--delay\", \"0\"]/\"--delay\", \"0\", \"--seed\", \"5\"]/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    parent = cli.launch(sys.executable, "train.py", "--lr", "0.1", "--epochs", "1", "--delay", "0",
                        opts=("--env", "KEEP=1", "--env", "DROP=2", "--tag", "keep",
                              "--tag", "drop"))
    cli("wait", str(parent))
    app = make_app(app_env)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, parent)
        await pilot.press("r")                                          # rerun as is
        await until(pilot, lambda: table.current.id != parent, what="the rerun selected")
        rerun = table.current.id
        await until(pilot, lambda: table.select_run(parent), what="the parent selected")
        await pilot.press("e")                                          # edit the spec
        await until(pilot, lambda: table.current.id not in (parent, rerun), what="edited run")
        edited = table.current.id
        await pilot.press("n")                                          # new run
        await until(pilot, lambda: isinstance(app.screen, NewRunDialog), what="new-run dialog")
        command = app.screen.query_one("#command")
        command.value = "sh -c 'echo made-in-the-app'"
        await pilot.press("enter")
        await until(pilot, lambda: table.current.id not in (parent, rerun, edited),
                    what="the new run selected")
        new = table.current.id
    assert cli.run(rerun)["parent"] == parent and cli.run(rerun)["params"]["lr"] == 0.1
    shown = cli.run(edited)
    assert shown["parent"] == parent and shown["params"]["lr"] == 0.07
    assert shown["params"]["seed"] == 5 and shown["command"][-2:] == ["--seed", "5"]
    assert shown["env"] == {"KEEP": "1"} and shown["tags"] == ["keep"], "removed in the editor"
    assert cli.run(rerun)["env"] == {"KEEP": "1", "DROP": "2"}
    assert cli.run(rerun)["tags"] == ["keep", "drop"]
    cli("wait", str(new))
    assert cli("logs", str(new)).stdout == "made-in-the-app\n"
    assert cli.run(new)["parent"] is None


async def test_cancel_asks_first_and_defaults_to_no(app_env, cli):
    run = cli.launch(*LONG)
    cli.wait_state(run, "running")
    app = make_app(app_env)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, run)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        assert app.focused.id == "no"
        await pilot.press("enter")                                      # the default: No
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="closed")
        assert _state(cli, run) == "running"
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: table.rows[run].state is RunState.CANCELLED, timeout=60,
                    what="the run cancelled, as the app shows it")
        assert not app._notifications, "a cancel the user asked for raises no toast"


async def test_quit_stops_no_run(app_env, cli):
    run = cli.launch(*LONG)
    cli.wait_state(run, "running")
    app = make_app(app_env)
    async with app.run_test(size=(80, 24)) as pilot:
        await _listed(pilot, app.screen.table, run)
        footer = " ".join(b.binding.description for b in app.active_bindings.values()
                          if b.binding.show)
        assert "runs keep running" in footer
        await pilot.press("q")
    assert app.return_code == 0
    assert _state(cli, run) == "running"
    pid = int((app_env.run_dir(run) / "pid").read_text())
    assert process_alive(pid), "the run's process lives on after the app quit"


async def test_a_toast_when_a_run_finishes_or_fails(app_env, cli, project):
    (project / "runyard.toml").write_text(
        (project / "runyard.toml").read_text() + '\n[app]\ntoasts = "all"\nbell = true\n')
    app = make_app(app_env)
    bells = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.bell = lambda: bells.append(1)
        ok = await asyncio.to_thread(cli.launch, "sh", "-c", "sleep 1")
        bad = await asyncio.to_thread(cli.launch, "sh", "-c", "sleep 1; exit 3")
        await until(pilot, lambda: len(app._notifications) >= 2, timeout=60, what="two toasts")
        messages = sorted(n.message for n in app._notifications)
    assert messages == [f"run {ok} sleep succeeded", f"run {bad} sleep failed (exit code 3)"]
    assert len(bells) == 2


async def test_a_sweep_folds_and_a_new_one_shows_its_plan_first(app_env, cli):
    from tui.app.dialogs.plan import PlanDialog
    out = cli("launch", "--sweep", "lr=0.3,0.1,0.03", "--", sys.executable, "train.py", "--lr", "{lr}",
              "--epochs", "1", "--delay", "0").stdout.split()
    sweep = [int(i) for i in out]
    alone = cli.launch("true")
    app = make_app(app_env)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, alone)
        assert table.grouping == "sweep", "sweeps are grouped by default"
        head = max(sweep)
        assert "▾ train" in row_text(table, head)
        assert [r.id for r, _ in table.shown] == [alone, *sorted(sweep, reverse=True)]
        assert "lr" in [c.name for c in table.result_columns], "the sweep's param is a column"
        table.select_run(min(sweep))
        await pilot.press("z")                                   # fold the run's sweep
        await until(pilot, lambda: [r.id for r, _ in table.shown] == [alone, head],
                    what="the sweep folded to one row")
        assert "▸ train +2 " in row_text(table, head)
        await pilot.press("Z")                                   # unfold every sweep
        await until(pilot, lambda: len(table.shown) == 4, what="every sweep unfolded")
        await pilot.press("Z")                                   # fold every sweep
        await until(pilot, lambda: len(table.shown) == 2, what="every sweep folded")

        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewRunDialog), what="new-run dialog")
        app.screen.query_one("#command").value = "sh -c 'echo bs={bs}'"
        app.screen.query_one("#sweep").value = "bs=16,32"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PlanDialog), what="the plan")
        text = widget_text(app.screen.query_one("#plan-text"))
        assert "plan: 2 runs" in text and "bs=16" in text and "bs=32" in text
        assert len(cli.json("status", "--json", "--all")["runs"]) == 4, "nothing launched yet"
        await pilot.press("enter")
        await until(pilot, lambda: len(table.rows) == 6, what="the two planned runs listed")
    runs = cli.json("status", "--json", "--all")["runs"]
    new = [r for r in runs if r["id"] > alone]
    assert sorted(r["params"]["bs"] for r in new) == [16, 32]
    assert len({r["group"] for r in new}) == 1 and new[0]["group"] is not None
    for run in new:
        cli("wait", str(run["id"]))
    assert {cli("logs", str(r["id"])).stdout for r in new} == {"bs=16\n", "bs=32\n"}


async def test_runs_removed_with_tui_rm_or_the_key_leave_the_list(app_env, cli):
    kept, gone = cli.launch("true"), cli.launch("true", "too")
    first, second = cli.launch("true", "3"), cli.launch("true", "4")
    cli("wait", str(kept), str(gone), str(first), str(second))
    long = cli.launch(*LONG)
    app = make_app(app_env)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, long)
        table.select_run(gone)
        await pilot.press("space")                                      # marked, then removed
        await asyncio.to_thread(cli, "rm", str(gone))
        await until(pilot, lambda: gone not in table.rows, what="the removed run to go")
        assert kept in table.rows and not table.marked
        table.select_run(first)
        await pilot.press("space")
        table.select_run(long)
        await pilot.press("space", "D")                             # one ended, one running
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        assert "Remove 2 marked runs: run {} true (1 not ended: kept)?".format(first) in \
            str(app.screen.query_one(".question").render())
        assert app.focused.id == "no"
        await pilot.press("enter")                                      # the default: No
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="closed")
        assert first in table.rows
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: first not in table.rows, what="the removed run to go")
        assert not table.marked, "the action used up its marks"
        assert long in table.rows and _state(cli, long) == "running"
        assert cli("show", str(first), check=False).returncode == 3
        assert second in table.rows and kept in table.rows


async def test_a_value_a_request_refuses_is_shown_in_the_dialog_not_a_crash(app_env, cli):
    """Dialogs build typed requests: what one refuses (a GPU count past any integer a store
    holds) is the dialog's error line; the app goes on and nothing is launched."""
    parent = cli.launch("true")
    cli("wait", str(parent))
    app = make_app(app_env)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.table
        await _listed(pilot, table, parent)
        for key, dialog in (("n", NewRunDialog), ("c", CloneDialog)):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, dialog), what=f"{key}: dialog")
            app.screen.query_one("#gpus").value = "9" * 30
            await pilot.press("enter")
            await until(pilot, lambda: "gpus: expected an integer" in
                        widget_text(app.screen.query_one("#error")), what="the error shown")
            assert isinstance(app.screen, dialog) and app.is_running
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, dialog), what="closed")
    assert [r["id"] for r in cli.json("status", "--json", "--all")["runs"]] == [parent]
