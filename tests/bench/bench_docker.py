"""Docker target figures, printed (not asserted): start overhead, reattach time, log copying.

    .venv/bin/python tests/bench/bench_docker.py [--runs N]

Starts its own dockerd (tests/daemons/dockerd.py) under a temporary folder, as root.
Each figure is a median; `docker run` through the docker CLI on the same engine is the
peer for the start overhead.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.daemons.dockerd import BUSYBOX_IMAGE, Dockerd, busybox_tree  # noqa: E402
from tests.helpers import (EXAMPLES, Cli, isolated_env, process_alive, stop_store,  # noqa: E402
                           wait_for)


def _project(root: Path, dockerd: Dockerd) -> Path:
    project = root / "project"
    project.mkdir()
    (project / "train.py").write_text((EXAMPLES / "train" / "train.py").read_text())
    (project / "runyard.toml").write_text(
        f'[targets.box]\nkind = "docker"\nimage = "{BUSYBOX_IMAGE}"\nhost = "{dockerd.url}"\n'
        'max_parallel = 8\n')
    return project


def _until_done(cli: Cli, run_id: int) -> None:
    """`tui wait`: the engine answers when it has recorded the end (no polling load)."""
    cli("wait", "--quiet", str(run_id), check=False, timeout=600)


def start_overhead(cli: Cli, dockerd: Dockerd, runs: int) -> None:
    for target in ("local", "box"):
        times = []
        for _ in range(runs):
            began = time.monotonic()
            run_id = cli.launch("true", opts=("--force", "--target", target))
            _until_done(cli, run_id)
            times.append(time.monotonic() - began)
        print(f"launch -> recorded end of `true`, target {target:5}: "
              f"median {statistics.median(times) * 1000:6.0f} ms (n={runs})")
    times = []
    for _ in range(runs):
        began = time.monotonic()
        dockerd.docker("run", "--rm", "--init", BUSYBOX_IMAGE, "true")
        times.append(time.monotonic() - began)
    print(f"peer: docker run --rm --init busybox true:       "
          f"median {statistics.median(times) * 1000:6.0f} ms (n={runs})")


def reattach(cli: Cli, dockerd: Dockerd, runs: int) -> None:
    times = []
    for _ in range(runs):
        run_id = cli.launch("sh", "-c", "echo up; sleep 1; echo done",
                            opts=("--force", "--target", "box"))
        wait_for(lambda: "up" in cli("logs", str(run_id)).stdout, timeout=60, interval=0.01)
        pid = cli.engine_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not process_alive(pid), interval=0.01)
        store = (Path(cli.env["RUNYARD_HOME"]) / "store-id").read_text().strip()
        wait_for(lambda: dockerd.containers(f"label=runyard.store={store}",
                                            f"label=runyard.run={run_id}", "status=exited"),
                 timeout=60, what="the container to end while no engine watches")
        began = time.monotonic()
        cli("status")                        # restarts the engine, which reattaches
        _until_done(cli, run_id)
        times.append(time.monotonic() - began)
    print(f"engine kill -9, container ended meanwhile -> run recorded after restart: "
          f"median {statistics.median(times) * 1000:.0f} ms (n={runs}, includes engine start)")


def log_copy(cli: Cli, dockerd: Dockerd, megabytes: int) -> None:
    script = f"head -c {megabytes * 1024 * 1024} /dev/zero | tr '\\0' 'x' | fold -w 99"
    began = time.monotonic()
    run_id = cli.launch("sh", "-c", script, opts=("--force", "--target", "box"))
    _until_done(cli, run_id)
    total = time.monotonic() - began
    size = (Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "output.log").stat().st_size
    began = time.monotonic()
    dockerd.docker("run", "--rm", "--init", BUSYBOX_IMAGE, "sh", "-c", script + " > /dev/null")
    bare = time.monotonic() - began
    name = f"runyard-bench-logs-{os.getpid()}"
    began = time.monotonic()
    dockerd.docker("run", "--init", "--name", name, "--log-driver", "local", BUSYBOX_IMAGE,
                   "sh", "-c", script, timeout=600)
    logged = time.monotonic() - began
    began = time.monotonic()
    dockerd.docker("logs", name, timeout=600)
    read_back = time.monotonic() - began
    dockerd.docker("rm", name)
    print(f"{size / 1e6:.0f} MB of output copied into output.log: run took {total:.1f} s "
          f"({size / 1e6 / total:.0f} MB/s); the same container writing to /dev/null: "
          f"{bare:.1f} s; peer: `docker run` of it (attached, local log driver) {logged:.1f} s, "
          f"then `docker logs` reading it back {read_back:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-bench-docker-") as tmp:
        root = Path(tmp)
        dockerd = Dockerd(root / "dockerd")
        dockerd.start()
        env = isolated_env(root)
        try:
            dockerd.import_tree(busybox_tree(root / "busybox"), BUSYBOX_IMAGE)
            cli = Cli(env, _project(root, dockerd))
            cli("status")                    # the engine is up before anything is timed
            start_overhead(cli, dockerd, args.runs)
            reattach(cli, dockerd, max(3, args.runs // 3))
            log_copy(cli, dockerd, args.megabytes)
        finally:
            stop_store(env, Path(tmp))
            dockerd.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
