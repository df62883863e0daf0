"""Shared pieces of the benchmarks: timing, throwaway stores and projects, result rows."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent           # benchmark from a venv: its `tui` script


class Wire:
    """Bytes through the box's veth link (both ways), when the box has its own namespace."""

    def __init__(self, interface: str | None):
        self.interface = interface

    def read(self) -> int | None:
        if self.interface is None:
            return None
        base = Path("/sys/class/net") / self.interface / "statistics"
        return int((base / "tx_bytes").read_text()) + int((base / "rx_bytes").read_text())


@dataclass
class Result:
    """One measured figure, its target if the issue names one, and peers from the same run."""

    name: str
    value: float
    unit: str
    target: str = ""
    peers: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def verdict(self) -> str:
        if not self.target:
            return ""
        op, limit = self.target.split(" ", 1)
        limit_value = float(limit)
        ok = self.value <= limit_value if op == "<=" else self.value >= limit_value
        return "meets" if ok else "MISSES"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000


def timed(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   **kwargs)
    return time.perf_counter() - start


class Workspace:
    """A temporary folder holding a store, projects and peer homes; removed at the end."""

    def __init__(self, name: str):
        self.root = Path(tempfile.mkdtemp(prefix=f"runyard-bench-{name}-"))
        self.home = self.root / "store"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        self.env.update(RUNYARD_HOME=str(self.home), XDG_CONFIG_HOME=str(self.root / "config"),
                        GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
                        GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com",
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def tui(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "tui"), *args], cwd=cwd, env=self.env, check=check,
                              capture_output=True, text=True)

    def close(self) -> None:
        subprocess.run([str(BIN / "tui"), "engine", "stop"], env=self.env, cwd=self.root,
                       capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_project(dest: Path, files: int = 0, git: bool = True, env: dict | None = None) -> Path:
    """The example training project, plus `files` small source files, optionally a git repo."""
    shutil.copytree(REPO / "examples" / "train", dest)
    for i in range(files):
        folder = dest / "pkg" / f"mod{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.py").write_text(f"VALUE_{i} = {i}\n" + "# padding\n" * 20)
    if git:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
            subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)
    return dest


def print_results(results: list[Result]) -> None:
    width = max(len(r.name) for r in results)
    for r in results:
        peers = "  ".join(f"{name} {value:.4g} ({_ratio(r, value)})" for name, value in r.peers.items())
        line = f"{r.name:<{width}}  {r.value:10.4g} {r.unit:<6}"
        if r.target:
            line += f"  target {r.target} {r.unit}: {r.verdict()}"
        if peers:
            line += f"  | peers: {peers}"
        if r.note:
            line += f"  [{r.note}]"
        print(line, flush=True)


def _ratio(result: Result, peer: float) -> str:
    if not result.value or not peer:
        return "n/a"
    higher_is_better = result.unit.endswith("/s")
    ratio = result.value / peer if higher_is_better else peer / result.value
    if ratio >= 1:
        return f"runyard {ratio:.1f}x faster"
    return f"runyard {1 / ratio:.1f}x slower"
