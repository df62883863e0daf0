"""Fixtures for the app's tests: this process as the user's shell on an isolated store, and a
demo store. The functions that make and drive the app are in tests/tui/apps.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.paths import StorePaths
from tests.helpers import require
from tests.tui.fixture_store import demo_store


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
