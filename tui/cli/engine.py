"""The engine and target commands of the CLI: `tui engine ...` and `tui targets`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import core

from core.client import EngineClient, engine_alive
from core.errors import ExitCode
from core.paths import StorePaths
from core.requests import PingRequest, StatusRequest, StopRequest, TargetsRequest, here
from core.textsafe import inline
from tui import formatting

TYPE_CHECKING = False           # typing costs ~7 ms to import: only checkers read it
if TYPE_CHECKING:
    from typing import Any, NoReturn

SCHEMA = 1


def run(args, paths: StorePaths) -> int:
    if args.command == "targets":
        return targets(args, paths)
    return {"status": status, "start": start, "stop": stop, "run": foreground,
            "repair": repair}[args.engine_command](args, paths)


def status(args, paths: StorePaths) -> int:
    info: dict[str, Any] = {"running": False, "pid": None, "version": None, "started_at": None,
            "home": str(paths.home), "socket": str(paths.socket), "runs": {}}
    if engine_alive(paths):
        reply = EngineClient(paths).request(StatusRequest(), start=False)
        info.update(running=True, **{k: reply[k] for k in ("pid", "version", "started_at",
                                                            "socket", "runs")})
    if getattr(args, "json", False):
        print(json.dumps({"schema": SCHEMA, "engine": info}))
    elif info["running"]:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(info["runs"].items())) or "no runs"
        print(f"engine running, pid {info['pid']}, since {info['started_at']}\n"
              f"store    {inline(info['home'])}\nruns     {counts}")
    else:
        print(f"engine not running\nstore    {inline(info['home'])}")
    return ExitCode.OK


def start(args, paths: StorePaths) -> int:
    client = EngineClient(paths)
    client.start()
    pid = client.request(PingRequest())["pid"]
    print(f"engine running, pid {pid}", file=sys.stderr)
    return ExitCode.OK


def stop(args, paths: StorePaths) -> int:
    if not engine_alive(paths):
        print("engine not running", file=sys.stderr)
        return ExitCode.OK
    pid = EngineClient(paths).request(StopRequest(), start=False)["pid"]
    deadline = time.monotonic() + 30
    while engine_alive(paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"engine stopped (pid {pid}); runs keep running", file=sys.stderr)
    return ExitCode.OK


def foreground(args, paths: StorePaths) -> int:
    """Become the engine (`python -m core.engine`, same pid, same signals): the CLI itself
    never imports the engine's modules."""
    _become("core.engine", paths)


def repair(args, paths: StorePaths) -> int:
    """Rebuild lost run records from the run folders (core.engine.repair, in place of this
    process: the CLI never imports the engine's modules)."""
    _become("core.engine.repair", paths, ["--json"] if args.json else [])


def _become(module: str, paths: StorePaths, extra: list[str] | None = None) -> NoReturn:
    source_root = str(Path(core.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, "--home", str(paths.home),
                               *(extra or [])], env)


def targets(args, paths: StorePaths) -> int:
    reply = EngineClient(paths).request(TargetsRequest(**here()))
    items = reply["targets"]
    if args.json:
        print(json.dumps({"schema": SCHEMA, "targets": items}))
        return ExitCode.OK
    rows = [[t["name"], t["kind"], str(t["max_parallel"]),
             ",".join(map(str, t["gpu_ids"])) or "-", str(t["running"]), str(t["queued"]),
             t["status"] + (f": {t['message']}" if t.get("message") else "")] for t in items]
    print(formatting.table(["NAME", "KIND", "MAX", "GPUS", "RUNNING", "QUEUED", "STATUS"], rows,
                           right={2, 4, 5}))
    return ExitCode.OK
