"""Run runyard's benchmarks and print the figures: `python tests/bench/run.py [--quick] [NAME...]`.

Every `tests/bench/bench_*.py` module that lists its benchmarks in BENCHMARKS runs here;
each returns result rows. Peers (Guild AI, DVC, task-spooler, xargs) are measured in the
same run, so ratios compare like with like on whatever machine this is. The benchmarks
that need daemons of their own (sshd, dockerd, a Slurm cluster) or a terminal are scripts
run on their own; they are listed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import print_results  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="only benchmarks whose name contains this")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and runs")
    args = parser.parse_args()
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    standalone = []
    for module_name in modules:
        module = importlib.import_module(f"tests.bench.{module_name}")
        if not hasattr(module, "BENCHMARKS"):
            standalone.append(module_name)
            continue
        for bench in module.BENCHMARKS:
            if args.names and not any(n in bench.__name__ for n in args.names):
                continue
            print(f"# {module_name}.{bench.__name__}", flush=True)
            print_results(bench(args.quick))
    if standalone:
        print("# run on their own: " + ", ".join(f"tests/bench/{m}.py" for m in standalone))
    return 0


if __name__ == "__main__":
    sys.exit(main())
