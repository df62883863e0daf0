"""CLI start-up and `tui launch` latency of several checkouts of runyard, measured in one run.

    .venv/bin/python tests/bench/bench_startup.py [--rounds N] [CHECKOUT ...]

Each CHECKOUT is a source tree with its own `.venv` (made by `sh tests/run.sh`), so an
older commit is compared with this one on the same machine at the same time (default:
this checkout only). Every checkout gets a store of its own with 20 ended runs and a
running engine. The rounds alternate between the checkouts (their order rotates every
round), so a machine that slows down mid-run slows all of them alike. Printed per checkout
and command: the median and the 90th percentile of the wall time in ms, the median CPU
time the command used (user + system: what a busy machine changes least), and how many
modules `tui status` imports (PYTHONPROFILEIMPORTTIME; deterministic, unlike the times).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import make_project, median_ms, p90_ms, timed  # noqa: E402
from tests.helpers import isolated_env  # noqa: E402

COMMANDS = {
    "tui --help": ["--help"],
    "tui status": ["status"],
    "tui status --json": ["status", "--json"],
    "tui launch": ["launch", "--force", "--", "true"],
}


class Checkout:
    """One source tree, its `tui`, and a store of its own with an engine running."""

    def __init__(self, tree: Path, root: Path):
        self.tree = tree
        self.tui = tree / ".venv" / "bin" / "tui"
        if not self.tui.exists():
            raise SystemExit(f"{self.tui} is missing: run `sh tests/run.sh tests/unit -q` "
                             f"in {tree}")
        self.label = _label(tree)
        self.root = root
        self.env = {**isolated_env(root), "PYTHONPATH": str(tree)}
        self.project = make_project(root / "project", env=self.env)
        ids = [self.run("launch", "--force", "--", "true").stdout.strip() for _ in range(20)]
        self.run("wait", "-q", *ids)
        self.samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
        self.cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.tui), *args], cwd=self.project, env=self.env,
                              capture_output=True, text=True, check=True)

    def measure(self, name: str) -> None:
        if name == "tui launch":
            self.run("wait", "last", "-q")         # no run of ours shares the CPU
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.samples[name].append(timed([str(self.tui), *COMMANDS[name]], cwd=self.project,
                                        env=self.env))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    def modules_imported(self, *args: str) -> int:
        proc = subprocess.run([str(self.tui), *args], cwd=self.project, capture_output=True,
                              text=True, env={**self.env, "PYTHONPROFILEIMPORTTIME": "1"})
        return sum(1 for line in proc.stderr.splitlines() if line.startswith("import time:")) - 1

    def close(self) -> None:
        subprocess.run([str(self.tui), "engine", "stop"], cwd=self.project, env=self.env,
                       capture_output=True, check=False)


def _label(tree: Path) -> str:
    head = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h"],
                          capture_output=True, text=True).stdout.strip()
    return f"{tree} ({head})" if head else str(tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path,
                        default=[Path(__file__).resolve().parents[2]])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runyard-bench-startup-"))
    checkouts: list[Checkout] = []
    try:
        for index, tree in enumerate(args.checkouts):
            checkouts.append(Checkout(tree.resolve(), root / str(index)))
        for round_ in range(args.rounds):
            turn = round_ % len(checkouts)
            for checkout in checkouts[turn:] + checkouts[:turn]:
                for name in COMMANDS:
                    checkout.measure(name)
        print(f"{args.rounds} rounds, alternating; {os.cpu_count()} CPUs; times in ms")
        for checkout in checkouts:
            print(f"\n{checkout.label}: `tui status` imports "
                  f"{checkout.modules_imported('status')} modules, `tui --help` "
                  f"{checkout.modules_imported('--help')}")
            for name, samples in checkout.samples.items():
                print(f"  {name:<20} median {median_ms(samples):7.1f}   p90 {p90_ms(samples):7.1f}"
                      f"   cpu {median_ms(checkout.cpu[name]):6.1f}")
    finally:
        for checkout in checkouts:
            checkout.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
