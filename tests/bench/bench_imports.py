"""What each import runyard keeps lazy would cost the command that avoids it.

    .venv/bin/python tests/bench/bench_imports.py [--repeat N]

Imports sit at module top, except where one would slow a command down: then the code
says so in a `# lazy:` comment naming the figure printed here. For each case, the
modules the command imports anyway are found by running it (PYTHONPROFILEIMPORTTIME),
then a fresh interpreter imports those and times importing the lazy ones on top: what
moving the import to the module's top would add to every such command. Medians of N
fresh interpreters, in ms; the command's own median run time is printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import BIN, make_project, timed  # noqa: E402
from tests.helpers import isolated_env, stop_store  # noqa: E402

# (what is kept fast, the command, the modules it would import if the import sat at the top)
CASES = [
    ("tui --help", ["--help"], ["core.paths"]),
    ("tui status", ["status"], ["tui.cli.launch", "tui.cli.engine", "tui.cli.watch"]),
    ("tui status", ["status"], ["tui.app.app"]),
    ("tui status", ["status"], ["sqlite_utils"]),
    ("tui status", ["status"], ["hashlib"]),
    ("tui status", ["status"], ["subprocess"]),
    ("tui status --json", ["status", "--json"], ["core.models", "core.requests"]),
    ("tui status --json", ["status", "--json"], ["core.textsafe"]),
    ("tui status --json", ["status", "--json"], ["shlex"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["argparse", "tui.cli.parser"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["pathlib", "core.paths"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["socket"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["difflib"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["tui.plan_text"]),
    ("tui launch", ["launch", "--force", "--", "true"], ["sqlite3", "core.store.queries"]),
    ("the app's start (tui)", None, ["tui.app.dialogs.clone", "tui.app.dialogs.confirm",
                                     "tui.app.dialogs.new_run", "tui.app.dialogs.plan",
                                     "tui.app.dialogs.columns", "tui.app.dialogs.sort_pick",
                                     "tui.app.screens.compare", "tui.app.screens.diff",
                                     "tui.app.screens.help", "tui.runlist.diff",
                                     "tui.spec_toml"]),
    ("the app's start (tui)", None, ["plotext"]),
    ("the engine's start", None, ["asyncssh"]),
    ("the engine's start", None, ["aiodocker", "aiohttp"]),
]
# What a command that is not a CLI call imports anyway (measured the same way).
CONTEXTS = {"the app's start (tui)": ["tui.app.app", "tui.app.screens.main"],
            "the engine's start": ["core.engine.server", "core.executors.local"]}

TIMER = """
import importlib, sys, time
for name in sys.argv[2].split(","):
    try:
        importlib.import_module(name)
    except Exception:
        pass
start = time.perf_counter()
for name in sys.argv[1].split(","):
    importlib.import_module(name)
print(time.perf_counter() - start)
"""


def imported_by(args: list[str], env: dict, cwd: Path) -> list[str]:
    """The modules `tui ARGS` imports (from PYTHONPROFILEIMPORTTIME's report)."""
    proc = subprocess.run([str(BIN / "tui"), *args], cwd=cwd, capture_output=True, text=True,
                          env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line]
    return [n for n in names if n and n != "imported package"]


def extra_ms(modules: list[str], context: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", TIMER, ",".join(modules), ",".join(context)],
                             capture_output=True, text=True, check=True).stdout
        samples.append(float(out) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-bench-imports-") as tmp:
        root = Path(tmp)
        env = isolated_env(root)
        project = make_project(root / "project", env=env)
        subprocess.run([str(BIN / "tui"), "wait", "-q", subprocess.run(
            [str(BIN / "tui"), "launch", "--", "true"], cwd=project, env=env,
            capture_output=True, text=True, check=True).stdout.strip()], cwd=project, env=env,
            check=True, capture_output=True)
        try:
            print(f"{'kept fast':<24} {'lazy import':<44} {'adds ms':>8} {'command ms':>11}")
            for kept, command, modules in CASES:
                if command is None:
                    context, took = CONTEXTS[kept], ""
                else:
                    context = imported_by(command, env, project)
                    runs = [timed([str(BIN / "tui"), *command], cwd=project, env=env)
                            for _ in range(args.repeat)]
                    took = f"{statistics.median(runs) * 1000:11.0f}"
                cost = extra_ms(modules, context, args.repeat)
                print(f"{kept:<24} {', '.join(modules)[:44]:<44} {cost:8.1f} {took}", flush=True)
        finally:
            stop_store(env, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
