"""Slurm target figures, printed (not asserted): submit latency, end latency, arrays.

    .venv/bin/python tests/bench/bench_slurm.py [--runs N] [--array N]

Starts its own single-node cluster (tests/slurm_daemons.py) under a temporary folder, as
root. Figures are medians. Peers in the same run: a bare `sbatch --wrap true` (what
submitting costs without runyard) and N separate sbatch calls against one array.

- submit: `tui launch` called -> the job id recorded in the store
- end: the run's exit_status written (the job's last act) -> the run's end recorded
- launch -> end of `true`: the whole round trip, target local vs slurm (most of it is
  Slurm starting the job, shown by the peer "bare sbatch -> its job runs")
- array: N queued runs released at once -> all N recorded as tasks of one array
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.daemons.slurm import SlurmCluster  # noqa: E402
from tests.helpers import EXAMPLES, Cli, isolated_env, stop_store, wait_for  # noqa: E402


def _row(db: Path, run_id: int) -> tuple[str, dict]:
    with sqlite3.connect(db) as conn:
        state, handle = conn.execute("SELECT state, handle FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
    return state, json.loads(handle)


def _poll(predicate, what: str = "the benchmark's condition"):
    """tests.helpers.wait_for, polling often (a poll is a few ms of the figures measured)."""
    return wait_for(predicate, timeout=120.0, interval=0.002, what=what)


def _median_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.0f} ms (n={len(samples)})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--array", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runyard-bench-slurm-"))
    cluster = SlurmCluster(root / "cluster").start()
    env = {**isolated_env(root), **cluster.env}
    project = root / "project"
    project.mkdir()
    (project / "train.py").write_text((EXAMPLES / "train" / "train.py").read_text())
    config = project / "runyard.toml"
    config.write_text('[targets.hpc]\nkind = "slurm"\npartition = "debug"\n')
    cli = Cli(env, project)
    db = root / "store" / "runyard.db"
    try:
        cli.launch("true", opts=("--force", "--target", "hpc"))   # engine up, wrapper installed
        bare = []
        for _ in range(args.runs):
            began = time.monotonic()
            cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true")
            bare.append(time.monotonic() - began)
        print(f"peer: bare sbatch --wrap true                 {_median_ms(bare)}")
        ran = []
        for i in range(args.runs):
            mark = root / f"ran-{i}"
            began = time.time()
            cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap",
                        f"date +%s.%N > {mark}.tmp && mv {mark}.tmp {mark}")
            _poll(mark.exists)
            ran.append(float(mark.read_text()) - began)
        print(f"peer: bare sbatch -> its job runs (Slurm)     {_median_ms(ran)}")

        submit, end, total = [], [], {"local": [], "hpc": []}
        for _ in range(args.runs):
            began = time.monotonic()
            run_id = cli.launch("true", opts=("--force", "--target", "hpc"))
            _poll(lambda: _row(db, run_id)[1].get("job"))
            submit.append(time.monotonic() - began)
            status = root / "store" / "runs" / str(run_id) / "exit_status"
            _poll(status.exists)
            written = status.stat().st_mtime
            _poll(lambda: _row(db, run_id)[0] == "succeeded")
            end.append(time.time() - written)
        print(f"submit: tui launch -> job id recorded         {_median_ms(submit)}")
        print(f"end: exit_status written -> end recorded      {_median_ms(end)}")
        for target in ("local", "hpc"):
            for _ in range(args.runs):
                began = time.monotonic()
                run_id = cli.launch("true", opts=("--force", "--target", target))
                cli("wait", "--quiet", str(run_id), check=False, timeout=120)
                total[target].append(time.monotonic() - began)
            print(f"launch -> recorded end of `true`, {target:5}       {_median_ms(total[target])}")

        n = args.array
        began = time.monotonic()
        for _ in range(n):
            cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true")
        print(f"peer: {n} separate sbatch calls               "
              f"{(time.monotonic() - began) * 1000:7.0f} ms")
        config.write_text('[targets.hpc]\nkind = "slurm"\npartition = "debug"\nmax_parallel = 1\n')
        blocker = cli.launch("sleep", "300", opts=("--force", "--target", "hpc"))
        _poll(lambda: _row(db, blocker)[1].get("job"))
        ids = [cli.launch("true", opts=("--force", "--target", "hpc")) for _ in range(n)]
        config.write_text(f'[targets.hpc]\nkind = "slurm"\npartition = "debug"\n'
                          f'max_parallel = {n + 1}\n')
        cli("targets")
        began = time.monotonic()
        cli("cancel", str(blocker))
        _poll(lambda: all(_row(db, i)[1].get("job") for i in ids))
        took = time.monotonic() - began
        arrays = {_row(db, i)[1].get("array") for i in ids}
        print(f"array: {n} queued runs released -> all submitted "
              f"{took * 1000:7.0f} ms (includes the blocker's cancel), "
              f"{len(arrays)} array job(s)")
    finally:
        stop_store(env, root)
        cluster.cancel_all()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
