"""Metric ingest speed (issue 12): lines read per second beside `grep -c` over the same file,
and a 2,000,000-line run through the real engine (every point stored, at the right step).

    .venv/bin/python tests/bench/run.py ingest million      (--quick: 300,000 lines)
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.common import REPO, Result, Workspace, make_project
from core.engine.ingest import Ingestor
from core.engine.ingest import STORE_BATCH
from core.store.ledger import Ledger

WRITER = """import sys
n = int(sys.argv[1])
write = sys.stdout.write
for i in range(n - 1):
    write(f"step={i} loss={1 / (i + 1):.6g}\\n")
write(f"step={n - 1} loss=0.5")          # the last line has no newline
"""


def _lines(quick: bool) -> int:
    return 300_000 if quick else 2_000_000


def _grep_seconds(path: Path) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(["grep", "-c", "loss", str(path)], check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def _ingest_seconds(path: Path, store: bool) -> tuple[float, int]:
    """Seconds to read every point of `path` (and store them as the engine does)."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.open(Path(folder) / "runyard.db")
        ledger.conn.execute("INSERT INTO runs (id, state, target, command, template, project, "
                            "created_at) VALUES (1, 'running', 'local', '[]', '[]', '/', 'x')")
        ingestor = Ingestor(path, Path(folder) / "none")
        started, count = time.perf_counter(), 0
        while True:
            batch = ingestor.poll(final=True)
            count += len(batch.rows)
            if store:
                for start in range(0, len(batch.rows), STORE_BATCH):
                    ledger.add_metrics(1, batch.rows[start:start + STORE_BATCH])
            if not batch.more:
                break
        seconds = time.perf_counter() - started
        ledger.close()
    return seconds, count


def bench_ingest_rate(quick: bool) -> list[Result]:
    n = _lines(quick)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "output.log"
        with open(output, "w") as handle:
            subprocess.run([sys.executable, "-c", WRITER, str(n)], stdout=handle, check=True)
        library = Path(folder) / "libraries.log"
        _library_corpus(library, n)
        grep = _grep_seconds(output)
        parse, points = _ingest_seconds(output, store=False)
        both, _ = _ingest_seconds(output, store=True)
        mixed, mixed_points = _ingest_seconds(library, store=True)
        data = library.read_bytes()
        mixed_lines = data.count(b"\n") + data.count(b"\r")     # a bar's redraws count
    peers = {"grep -c": n / grep}
    return [
        Result(f"ingest: read and store, {n:,} key=value lines", n / both, "lines/s",
               ">= 200000", peers, note=f"{points:,} points, {both:.1f} s"),
        Result("ingest: read only (no store)", n / parse, "lines/s", "", peers),
        Result("ingest: read and store, recorded library output", mixed_lines / mixed,
               "lines/s", "", peers, note=f"{mixed_lines:,} lines and redraws (the fixtures "
                                          f"repeated), {mixed_points / mixed:,.0f} points/s"),
    ]


def _library_corpus(path: Path, lines: int) -> None:
    """The recorded outputs of tests/fixtures/metrics, one after another, until `lines`."""
    fixtures = REPO / "tests" / "fixtures" / "metrics"
    blob = b"".join(p.read_bytes().split(b"# ---\n", 1)[1] for p in sorted(fixtures.glob("*.log")))
    per_copy = max(1, blob.count(b"\n"))
    path.write_bytes(blob * max(1, lines // per_copy))


def bench_two_million_lines(quick: bool) -> list[Result]:
    n = _lines(quick)
    with Workspace("metrics") as ws:
        project = make_project(ws.root / "p", env=ws.env)
        (project / "lines.py").write_text(WRITER)
        subprocess.run(["git", "add", "-A"], cwd=project, env=ws.env, check=True)
        subprocess.run(["git", "commit", "-qm", "w"], cwd=project, env=ws.env, check=True)
        started = time.perf_counter()
        run_id = ws.tui("launch", "--", sys.executable, "lines.py", str(n), cwd=project).stdout
        ws.tui("wait", run_id.strip(), cwd=project)
        total = time.perf_counter() - started
        conn = sqlite3.connect(ws.home / "runyard.db")
        count, low, high, distinct, first, last = conn.execute(
            "SELECT count(*), min(step), max(step), count(DISTINCT step), min(at), max(at) "
            "FROM metrics WHERE run_id = ? AND key = 'loss'", (int(run_id),)).fetchone()
        final = conn.execute("SELECT value FROM metrics WHERE run_id = ? AND step = ?",
                             (int(run_id), n - 1)).fetchone()
        wrong = conn.execute("SELECT count(*) FROM metrics WHERE run_id = ? AND "
                             "abs(value - 1.0 / (step + 1)) > 1e-5 * (1.0 / (step + 1)) "
                             "AND step != ?", (int(run_id), n - 1)).fetchone()[0]
        conn.close()
    right = (count == n and low == 0 and high == n - 1 and distinct == n and wrong == 0
             and final == (0.5,))
    return [Result(f"{n:,}-line run through the engine: points stored", count, "points",
                   f">= {n}", note=f"steps 0..{high}, {distinct:,} distinct, {wrong} wrong "
                                   f"values, last line {'stored' if final else 'MISSING'}; "
                                   f"{'right' if right else 'WRONG'}; launch to wait "
                                   f"{total:.1f} s, ingest {n / max(last - first, 1e-9):,.0f} "
                                   "lines/s")]


BENCHMARKS = [bench_ingest_rate, bench_two_million_lines]
