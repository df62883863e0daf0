"""Fixtures shared by every test: an isolated store, config and HOME, and the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, Cli, kill_store_processes


def require(condition: bool, why: str) -> None:
    """Skip when a prerequisite is missing, except in CI, where it must be there."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"prerequisite missing in CI: {why}")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _never_the_real_store(tmp_path_factory, monkeypatch):
    """No test reads or writes the developer's own store or config."""
    root = tmp_path_factory.mktemp("isolated")
    monkeypatch.setenv("RUNYARD_HOME", str(root / "store"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    home = tmp_path / "store"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    environ.update(
        RUNYARD_HOME=str(home),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        RUNYARD_ENGINE_IDLE_EXIT="600",          # a leaked engine goes away by itself
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=str(tmp_path / "gitconfig"), GIT_CONFIG_NOSYSTEM="1",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    yield environ
    subprocess.run([sys.executable, "-m", "tui", "engine", "stop"], env=environ, capture_output=True,
                   timeout=60, cwd=str(tmp_path), check=False)
    kill_store_processes(home)


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the example training project (not a git work tree)."""
    dest = tmp_path / "project"
    shutil.copytree(EXAMPLES / "train", dest)
    return dest


@pytest.fixture
def git_project(project, env) -> Path:
    """The example project as a git work tree with one commit."""
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)
    return project


@pytest.fixture
def cli(env, project) -> Cli:
    return Cli(env, project)
