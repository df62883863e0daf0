"""Fixtures shared by every test: an isolated store, config and HOME, and the real CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, Cli, isolated_env, stop_store


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
    """The environment of the test's CLI calls: a store of its own, stopped at the end."""
    environ = isolated_env(tmp_path)
    yield environ
    stop_store(environ, tmp_path)


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
