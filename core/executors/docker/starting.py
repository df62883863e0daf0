"""Before a container starts: the run's folder on this machine, and the image on the engine."""

from __future__ import annotations

import os
from pathlib import Path

from aiodocker.exceptions import DockerError

from core.errors import ExecutorError
from core.models import Run
from core.store.blobs import BlobStore
from core.store.snapshot import private_copy


def prepare_folder(run: Run, run_dir: Path, mode: str, blobs: BlobStore,
                   other_user: bool) -> None:
    """Fresh output and metrics files; with `mode` "mount", the run's private code copy
    (writable by any user when the container runs as `other_user`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in ("exit_status", "exit_status.tmp"):
        (run_dir / leftover).unlink(missing_ok=True)
    (run_dir / "output.log").touch()
    metrics = run_dir / "metrics.jsonl"
    metrics.touch()
    if mode != "mount":
        return
    code_dir = run_dir / "code"
    private_copy(run.snapshot, blobs, code_dir)
    if other_user:                               # another user writes here in the container
        metrics.chmod(0o666)
        for folder, _, _ in os.walk(code_dir):
            os.chmod(folder, 0o777)


async def ensure_image(docker, options: dict, url: str, target: str) -> None:
    """The target's image is on the engine, pulled per `pull`; else a clear ExecutorError."""
    image, policy = options["image"], options.get("pull", "missing")
    if policy != "always":
        try:
            await docker.images.inspect(image)
            return
        except DockerError as exc:
            if exc.status != 404:
                raise
        if policy == "never":
            raise ExecutorError(
                f"image {image} is not on the Docker engine at {url} (pull = \"never\")",
                target=target)
    try:
        await docker.images.pull(image)
    except DockerError as exc:
        if exc.status == 900:
            raise
        raise ExecutorError(
            f"image {image} is not on the Docker engine at {url} and could not be "
            f"pulled: {exc.message.strip()}", target=target,
            hint="build or load it there (docker build, docker load), or fix the "
                 "target's image") from None
