"""Reading a run's folder from outside never blocks on what the run put there."""

import os
import threading

from core.executors import folder_files


def test_hashing_a_file_the_run_swapped_for_a_fifo_does_not_block(tmp_path, monkeypatch):
    """The run replaced the file by a FIFO between the look (lstat: a regular file) and the
    open: a plain open() of a FIFO nobody writes waits forever, in the engine's thread."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    regular = os.lstat(__file__)
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: regular if str(p) == str(fifo)
                        else real_lstat(p, *a, **k))
    got: list[dict] = []
    worker = threading.Thread(target=lambda: got.append(folder_files.hash_paths(tmp_path, ["f"])),
                              daemon=True)
    worker.start()
    worker.join(5)
    blocked = worker.is_alive()
    if blocked:                                 # let the stuck open() go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not blocked, "hash_paths blocked opening a FIFO"
    assert got == [{}]
