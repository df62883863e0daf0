"""A store written by an older runyard reads with every field: the CLI has the engine migrate it."""

import shutil
from pathlib import Path

from tests.helpers import REPO


def test_listing_an_old_store_migrates_it_first(cli, env):
    home = Path(env["RUNYARD_HOME"])
    home.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "fixtures" / "store-v1.db", home / "runyard.db")
    runs = cli.json("status", "--json", "--all")["runs"]
    assert [r["id"] for r in runs] == [1, 2, 3]
    assert {r["detail"] for r in runs} == {None}
