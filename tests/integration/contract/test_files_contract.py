"""The file capabilities of the executor contract, run against every kind (and a Docker engine
reached over TCP, whose runs keep their files in a volume): what a run wrote is listed by a
fresh executor too (as after an engine restart), hashed where it is, and its bytes come back
exactly, from any offset; a file that is gone gives none."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

import pytest

from core.config import Project, SnapshotConfig
from core.models import RunState
from core.paths import StorePaths
from core.store.blobs import BlobStore
from core.store.snapshot import take
from tests.integration.contract import kinds
from tests.integration.contract.kinds import KINDS
from tests.integration.contract.harness import LIMIT, Engine

MODEL = bytes(range(256)) * 4000          # 1,024,000 bytes
WRITE = ("mkdir -p out/deep && printf 'a,b\\n1,2\\n' > out/deep/table.csv && "
         "cat model.src > model.bin && echo changed >> hello.txt")


@pytest.fixture
def remote_docker(dockerd, busybox_image):
    """A docker target on the engine's TCP address: remote-style, the code copied in."""
    options = {"image": busybox_image, "host": dockerd.tcp_url}
    return kinds.Kind("docker-copy", kinds._target("engine", "docker", options))


async def _collect(executor, run, handle, wanted) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    async for index, chunk in executor.fetch_files(run, handle, wanted):
        got[index] = got.get(index, b"") + chunk
    return got


@pytest.mark.parametrize("kind", [*KINDS], indirect=True)
async def test_what_a_run_wrote_is_listed_hashed_and_read_back_exactly(kind, store):
    await _case(kind, store)


async def test_a_remote_docker_runs_files_are_kept_and_read_back_exactly(remote_docker, store):
    await _case(remote_docker, store)


async def _case(kind, store) -> None:
    source = store.home.parent / "project"
    (source / "model.src").write_bytes(MODEL)
    snapshot = take(Project(source, None, "", False), SnapshotConfig(),
                    BlobStore(StorePaths(store.home).blobs), {})
    store.snapshot = snapshot.id
    engine = Engine(kind, store)
    run = engine.run(1, ["sh", "-c", WRITE])
    try:
        handle = await engine.start(run)
        ended = await engine.wait(run, handle)
        assert ended.exit_code == 0, store.output(run)
        run = replace(run, state=RunState.SUCCEEDED, handle=handle)
        listing = await asyncio.wait_for(engine.executor.list_files(run, handle), LIMIT)
        sizes = {f.path: f.size for f in listing.files}
        assert sizes["model.bin"] == len(MODEL) and sizes["out/deep/table.csv"] == 8
        assert sizes["hello.txt"] == len("hello from the snapshot\nchanged\n")
        hashes = await engine.executor.hash_files(run, handle, ["model.bin", "out/deep/table.csv",
                                                                "missing.txt"])
        assert hashes == {"model.bin": hashlib.sha256(MODEL).hexdigest(),
                          "out/deep/table.csv": hashlib.sha256(b"a,b\n1,2\n").hexdigest()}
        got = await _collect(engine.executor, run, handle,
                             [("model.bin", 0), ("out/deep/table.csv", 4), ("missing.txt", 0),
                              ("model.bin", 1000000)])
        assert got == {0: MODEL, 1: b"1,2\n", 3: MODEL[1000000:]}

        again = kind.executor(store.home)          # a restarted engine's executor
        try:
            relisted = await asyncio.wait_for(again.list_files(run, handle), LIMIT)
            assert {f.path: f.size for f in relisted.files} == sizes
            assert again.files_location(handle) == engine.executor.files_location(handle)
            assert again.file_address(run, handle, "model.bin") == \
                engine.executor.file_address(run, handle, "model.bin")
        finally:
            await again.close()
    finally:
        await engine.close()
