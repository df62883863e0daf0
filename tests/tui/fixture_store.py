"""Stores with fixed content for app tests, snapshots and benchmarks (no engine involved).

Runs are written through core.store.ledger (the engine's own writer path) with fixed times, so
what the app shows is the same on every machine and every day.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from core.store import db
from core.engine.launching import PlannedRun
from core.store.ledger import Ledger
from core.models import RunSpec
from core.paths import StorePaths

T0 = 1_767_261_600.0                 # 2026-01-01T10:00:00Z, the fixed "now" of snapshots


def iso(offset: float) -> str:
    from core.models import iso_from_epoch
    return iso_from_epoch(T0 + offset)


def _set(conn: sqlite3.Connection, run_id: int, **fields) -> None:
    assignments = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))


def add_run(ledger: Ledger, argv: list[str], params: dict, *, state: str, started: float | None,
            finished: float | None, metrics: dict[str, list[float]] | None = None,
            parent: int | None = None, name: str | None = None, gpu_ids=(), target="local",
            tags=(), exit_code=None, reason=None, snapshot: str | None = None) -> int:
    spec = RunSpec(command=argv, template=argv, params=params, target=target, name=name,
                   parent=parent, tags=list(tags), gpus=len(gpu_ids))
    planned = PlannedRun(spec=spec, options={}, key=f"fixture-{ledger.conn.total_changes}")
    [run_id] = ledger.insert_batch([(planned, None)], [], snapshot=snapshot,
                                   project="/work/project", workdir="", git_commit=None,
                                   git_diff=None, git_dirty=False, base_env=None)
    conn = ledger.conn
    latest = {}
    for key, values in (metrics or {}).items():
        conn.executemany("INSERT INTO metrics (run_id, key, step, value, at) VALUES (?,?,?,?,?)",
                         [(run_id, key, step, value, T0) for step, value in enumerate(values)])
        latest[key] = values[-1]
    _set(conn, run_id, state=state, created_at=iso((started or 0) - 5),
         started_at=iso(started) if started is not None else None,
         finished_at=iso(finished) if finished is not None else None,
         gpu_ids=json.dumps(list(gpu_ids)), metrics=json.dumps(latest), exit_code=exit_code,
         reason=reason)
    return run_id


def write_log(paths: StorePaths, run_id: int, data: bytes) -> Path:
    path = paths.output_log(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _curve(start: float, rate: float, points: int) -> list[float]:
    return [round(start * (1 - rate) ** i, 4) for i in range(points)]


def demo_store(home: Path) -> StorePaths:
    """Eight runs in every state, with params, metrics, a lineage and logs."""
    paths = StorePaths(home)
    paths.ensure()
    ledger = Ledger.open(paths.db)
    runs = [
        (["python", "train.py", "--lr", "0.1", "--epochs", "4"], {"lr": 0.1, "epochs": 4},
         "succeeded", -3600, -3000, {"loss": _curve(0.69, 0.08, 24), "acc": [0.5, 0.7, 0.81, 0.86]},
         None),
        (["python", "train.py", "--lr", "0.3", "--epochs", "4"], {"lr": 0.3, "epochs": 4},
         "failed", -2900, -2800, {"loss": _curve(0.69, 0.02, 6)}, None),
        (["python", "train.py", "--lr", "0.03", "--epochs", "4"], {"lr": 0.03, "epochs": 4},
         "succeeded", -2700, -2100, {"loss": _curve(0.69, 0.05, 24), "acc": [0.5, 0.6, 0.7, 0.8]},
         1),
        (["python", "train.py", "--lr", "0.01", "--epochs", "8"], {"lr": 0.01, "epochs": 8},
         "running", -600, None, {"loss": _curve(0.69, 0.03, 16)}, 3),
        (["python", "train.py", "--lr", "0.05", "--epochs", "8"], {"lr": 0.05, "epochs": 8},
         "running", -300, None, {"loss": _curve(0.69, 0.06, 10)}, 1),
        (["python", "train.py", "--lr", "0.5", "--epochs", "4"], {"lr": 0.5, "epochs": 4},
         "cancelled", -1900, -1850, {}, None),
        (["python", "eval.py", "--split", "val"], {"split": "val"}, "lost", -1800, -1700, {},
         None),
        (["python", "train.py", "--lr", "0.001", "--epochs", "8"], {"lr": 0.001, "epochs": 8},
         "queued", None, None, {}, 4),
    ]
    for argv, params, state, started, finished, metrics, parent in runs:
        add_run(ledger, argv, params, state=state, started=started, finished=finished,
                metrics=metrics, parent=parent,
                exit_code={"failed": 3, "succeeded": 0}.get(state),
                reason={"failed": "exit code 3", "lost": "the box went away",
                        "cancelled": "cancelled"}.get(state))
    for run_id in range(1, 6):
        lines = [f"training on 512 rows (run {run_id})"]
        lines += [f"epoch={1 + i // 6} step={4 * (i + 1)} loss={v}" for i, v in
                  enumerate(_curve(0.69, 0.05, 12))]
        write_log(paths, run_id, ("\n".join(lines) + "\n").encode())
    write_log(paths, 2, b"training on 512 rows\n\x1b[31merror: diverged at epoch 2\x1b[0m\n")
    ledger.close()
    return paths


def bulk_store(home: Path, count: int) -> StorePaths:
    """`count` finished runs with params and a metric, written in one transaction (fast)."""
    paths = StorePaths(home)
    paths.ensure()
    ledger = Ledger.open(paths.db)
    conn = ledger.conn
    conn.execute("BEGIN")
    rows = []
    for i in range(1, count + 1):
        lr = [0.1, 0.03, 0.01, 0.003][i % 4]
        argv = ["python", "train.py", "--lr", str(lr), "--seed", str(i % 50)]
        rows.append(("train", "succeeded" if i % 7 else "failed", "local", json.dumps(argv),
                     json.dumps(argv), json.dumps({"lr": lr, "seed": i % 50}),
                     json.dumps({"loss": round(0.7 / (1 + i % 13), 4)}), "/work/project",
                     iso(i), iso(i + 1), iso(i + 30 + i % 90), None if i % 5 else max(1, i - 3)))
    conn.executemany(
        "INSERT INTO runs (name, state, target, command, template, params, metrics, project, "
        "created_at, started_at, finished_at, parent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("INSERT INTO events (run_id, at, kind, state, message) "
                 "SELECT id, created_at, 'state', state, state FROM runs")
    conn.execute("COMMIT")
    ledger.close()
    return paths


def connect(paths: StorePaths) -> sqlite3.Connection:
    return db.connect(paths.db)
