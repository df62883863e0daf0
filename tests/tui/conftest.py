"""Fixtures for the app's tests: the app on an isolated store, and waiting without sleeping."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from core.paths import StorePaths
from tests.conftest import require
from tests.tui.fixture_store import T0, demo_store
from tui.app import settings as app_settings
from tui.app.app import RunyardApp


@pytest.fixture
def app_env(env, project, monkeypatch) -> StorePaths:
    """This process looks like the user's shell in `project` (the app launches from it)."""
    for key in [k for k in os.environ if k.startswith("RUNYARD_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(project)
    return StorePaths(Path(env["RUNYARD_HOME"]))


@pytest.fixture
def tmux(tmp_path, env):
    """A private tmux server (its own socket); call it with tmux's arguments."""
    require(shutil.which("tmux") is not None, "tmux is not installed (apt-get install tmux)")
    socket = tmp_path / "tmux.sock"

    def call(*args, check=True):
        proc = subprocess.run(["tmux", "-S", str(socket), *args], env=env, capture_output=True,
                              text=True, errors="replace", timeout=30)
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args}: {proc.stderr}")
        return proc.stdout

    yield call
    call("kill-server", check=False)


@pytest.fixture
def demo(tmp_path) -> StorePaths:
    """A store with eight runs in every state, fixed times and logs (no engine)."""
    return demo_store(tmp_path / "demo-store")


def make_app(paths: StorePaths, theme: str | None = None, **kwargs) -> RunyardApp:
    settings, problems = app_settings.load(os.getcwd(), theme)
    return RunyardApp(paths, settings, problems, **kwargs)


def demo_app(paths: StorePaths, **kwargs) -> RunyardApp:
    """The app at the fixed time of the demo store, leaving the engine alone."""
    return make_app(paths, clock=lambda: T0, revive_engine=False, **kwargs)


async def until(pilot, predicate, timeout: float = 30.0, what: str = "condition"):
    """tests.helpers.wait_for for Pilot tests: poll while the app keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            notices = [n.message for n in pilot.app._notifications]
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f" (the app said: {notices})" if notices else ""))
        await pilot.pause(0.05)


def line_text(widget, y: int) -> str:
    return widget.render_line(y).text


def widget_text(widget) -> str:
    return "\n".join(line_text(widget, y) for y in range(widget.size.height))


def row_text(table, run_id: int) -> str:
    index = table.index_of[run_id]
    row, depth = table.shown[index]
    return table.row_strip(row, depth, False, table.size.width).text
