"""A search in the app, against a real engine: its folded row and header show trials done
of the budget and its best trial, and it ends with one toast, none for its trials."""

import asyncio

from tests.searches import constant, launch_search, trials, wait_ended
from tests.tui.apps import make_app, row_text, until, widget_text
from tui.formatting import number


async def test_a_search_row_shows_its_progress_and_its_end_is_one_toast(app_env, cli, project):
    (project / "runyard.toml").write_text('[app]\ntoasts = "all"\n')
    app = make_app(app_env)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.table
        group = await asyncio.to_thread(
            launch_search, cli, constant(steps=40, pause=0.05), "--search", "random",
            "--objective", "val_loss", "--trials", "6", "--prune", "asha", "--seed", "3",
            "--name", "objective")
        gid = group["id"]
        await until(pilot, lambda: gid in table.groups and table.rows, what="the trials listed")
        await until(pilot, lambda: app._notifications, timeout=90, what="the search's toast")
        ended = await asyncio.to_thread(wait_ended, cli, gid)
        found = await asyncio.to_thread(trials, cli.env, gid)
        pruned = sum(t["state"] == "pruned" for t in found)
        assert pruned, "with this seed some trials are pruned"
        best = ended["search"]["best"]
        value = number(best["value"])
        messages = [n.message for n in app._notifications]
        assert messages == [f"search {gid} objective finished: 6 trials ({pruned} pruned) · "
                            f"best val_loss {value} (run {best['run']})"], \
            "one toast for the search, none for its completed or pruned trials"
        await until(pilot, lambda: len(table.rows) == 6, what="every trial listed")
        head = max(t["run"] for t in found)           # newest first: the group's first row
        table.select_run(head)
        await pilot.press("z")
        await until(pilot, lambda: table.heads.get(head) and table.heads[head].folded,
                    what="the folded search")
        assert f"▸ objective +5 6/6 ■{pruned}" in row_text(table, head)
        header = widget_text(app.screen.query_one("#detail-header"))
        assert f"(search {gid}) · finished 6/6 ■{pruned} · best val_loss " \
               f"{value} (run {best['run']})" in header
