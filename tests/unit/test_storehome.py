"""The store's folder and socket as strings (core.storehome) name what core.paths names."""

import os
from pathlib import Path

import pytest

from core.paths import StorePaths, default_home
from core.storehome import home_folder, store_socket

ENVS = [
    {"RUNYARD_HOME": "/srv/runyard"},
    {"RUNYARD_HOME": "relative/store"},
    {"RUNYARD_HOME": "~/store"},
    {"RUNYARD_HOME": "/a//b/./c/"},
    {"RUNYARD_HOME": "", "XDG_DATA_HOME": "/data"},
    {"XDG_DATA_HOME": "~/data"},
    {"XDG_DATA_HOME": "data"},
    {"HOME": "/home/someone"},
    {"HOME": ""},
]


def _as_before(env):
    """core.paths.default_home as it was written before core.storehome."""
    if env.get("RUNYARD_HOME"):
        return Path(env["RUNYARD_HOME"]).expanduser().absolute()
    data = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                   ".local", "share")
    return Path(data).expanduser().absolute() / "runyard"


@pytest.mark.parametrize("env", ENVS, ids=str)
def test_the_home_folder_is_the_one_store_paths_uses(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(home_folder(env)) == default_home(env) == _as_before(env)
    assert os.path.isabs(home_folder(env))


@pytest.mark.parametrize("env", ENVS, ids=str)
def test_the_socket_is_the_one_store_paths_names(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    short = store_socket(home_folder(env))
    assert short is not None and Path(short) == StorePaths.from_env(env).socket


def test_a_store_path_too_long_for_a_socket_is_left_to_store_paths(tmp_path):
    home = str(tmp_path / ("deep-" * 25) / "store")
    assert store_socket(home) is None
    assert StorePaths(home).socket.parent != Path(home)
