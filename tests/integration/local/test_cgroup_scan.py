"""Where a local run's processes are found (core.executors.cgroup): in its cgroup once the
cgroup held the run, with no scan of every process's environment; by that scan (the
RUNYARD_RUN_DIR mark) when no cgroup held it. Real processes in a real cgroup v2."""

import os
import signal
import subprocess

import pytest

from core.executors import cgroup
from tests.helpers import require, wait_for


@pytest.fixture
def run_group(tmp_path):
    """A run folder and its own real cgroup (the cgroup.procs file)."""
    base = cgroup.hierarchy()
    require(base is not None and os.access(base, os.W_OK), "no writable cgroup v2 here")
    groups = cgroup.RunGroups(tmp_path / "store")
    procs_file = groups.create(1)
    assert procs_file is not None, groups.problem
    run_dir = tmp_path / "store" / "runs" / "1"
    run_dir.mkdir(parents=True)
    started: list[subprocess.Popen] = []
    yield run_dir, procs_file, started
    for proc in started:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    cgroup.remove(procs_file)
    groups.close()


def _marked_sleeper(run_dir, join: str | None = None) -> subprocess.Popen:
    """`sleep` carrying the run's mark in its environment; in the cgroup when `join`."""
    script = (f'echo $$ > "{join}"; ' if join else "") + "exec sleep 60"
    return subprocess.Popen(["/bin/sh", "-c", script],
                            env={"PATH": os.environ["PATH"], "RUNYARD_RUN_DIR": str(run_dir)})


def test_a_cgroup_that_held_the_run_is_where_its_processes_are(run_group):
    run_dir, procs_file, started = run_group
    inside = _marked_sleeper(run_dir, join=str(procs_file))
    outside = _marked_sleeper(run_dir)          # carries the mark, never in the cgroup
    started += [inside, outside]
    wait_for(lambda: inside.pid in cgroup.members(procs_file), what="the cgroup to hold it")
    wait_for(lambda: outside.pid in cgroup.marked(run_dir), what="the marked process")
    assert cgroup.held_run(procs_file)
    found = cgroup.run_processes(None, run_dir, procs_file)
    assert inside.pid in found
    assert outside.pid not in found, "no environment scan once the cgroup held the run"


def test_a_cgroup_that_never_held_the_run_falls_back_to_the_mark(run_group):
    run_dir, procs_file, started = run_group
    marked = _marked_sleeper(run_dir)
    started.append(marked)
    wait_for(lambda: marked.pid in cgroup.marked(run_dir), what="the marked process")
    assert not cgroup.held_run(procs_file)
    assert marked.pid in cgroup.run_processes(None, run_dir, procs_file)


def test_a_run_cgroup_is_removed_with_the_cgroups_made_below_it(run_group):
    _run_dir, procs_file, _started = run_group
    below = procs_file.parent / "made-by-the-run" / "deeper"
    below.mkdir(parents=True)
    cgroup.remove(procs_file)
    assert not procs_file.parent.exists()
