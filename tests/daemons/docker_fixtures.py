"""Fixtures for the docker target's tests: a real dockerd per test module, local images,
and a project whose runyard.toml names docker targets on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.daemons.dockerd import (BUSYBOX, BUSYBOX_IMAGE, PYTHON_IMAGE, Dockerd, busybox_tree,
                                   python_rootfs)
from tests.helpers import require

_ROOTFS: dict[str, Path] = {}      # the Python root file system tar, built once per session


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory) -> Dockerd:
    require(shutil.which("dockerd") is not None and shutil.which("docker") is not None,
            "dockerd and the docker CLI are needed (apt-get install docker.io)")
    require(os.geteuid() == 0, "dockerd needs root")
    engine = Dockerd(tmp_path_factory.mktemp("dockerd"))
    try:
        engine.start()
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def busybox_image(dockerd, tmp_path_factory) -> str:
    require(BUSYBOX.is_file(), f"{BUSYBOX} is needed (apt-get install busybox-static)")
    dockerd.import_tree(busybox_tree(tmp_path_factory.mktemp("busybox") / "root"), BUSYBOX_IMAGE)
    return BUSYBOX_IMAGE


@pytest.fixture(scope="module")
def python_image(dockerd, tmp_path_factory) -> str:
    require(shutil.which("debootstrap") is not None,
            "debootstrap is needed to build the Python image (apt-get install debootstrap)")
    if "tar" not in _ROOTFS:
        _ROOTFS["tar"] = python_rootfs(tmp_path_factory.mktemp("python-image"))
    dockerd.import_tar(_ROOTFS["tar"], PYTHON_IMAGE)
    return PYTHON_IMAGE


def write_targets(project: Path, text: str) -> None:
    """Append target tables to the project's runyard.toml."""
    config = project / "runyard.toml"
    config.write_text(config.read_text() + "\n" + text)
