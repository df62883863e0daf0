"""The engine's plan of a launch as text: `tui launch --dry-run` prints it, the app shows it."""

from __future__ import annotations

import shlex

from core.textsafe import inline
from tui import formatting
from tui import search_text

_ACTIONS = {"start": "start now", "queue": "queued", "wait": "wait", "cached": "cached",
            "fail": "would fail"}


def plan_lines(plan: dict) -> list[str]:
    """The plan as text lines, made terminal-safe (names, axes and paths may hold escapes);
    the CLI prints them and the app shows them before a sweep is confirmed."""
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(inline(line))

    runs = plan["runs"]
    counts = ", ".join(f"{n} {_ACTIONS[a]}" for a, n in plan["counts"].items())
    out(f"plan: {len(runs)} run{'s' if len(runs) != 1 else ''} ({counts}); "
        "dry run: nothing recorded, nothing started")
    snap = plan["snapshot"]
    line = f"snapshot {snap['id'][:12]}"
    if snap["file_count"] is not None:
        line += f": {snap['file_count']} files, {formatting.size(snap['total_bytes'])}"
    if snap["new_files"]:
        line += f" ({snap['new_files']} new, {formatting.size(snap['new_bytes'])} to store)"
    out(line)
    for group in plan["groups"]:
        spec = group["spec"]
        if group["kind"] == "sweep":
            how = (f"random search, {spec['samples']} samples, seed {spec['seed']}"
                   if spec["mode"] == "random" else "grid")
            axes = " ".join(f"{k}={v}" for k, v in spec["axes"].items())
            out(f"sweep {group['name']}: {how}: {axes}")
        elif group["kind"] == "chain":
            out(f"chain {group['name']}: " + " -> ".join(s or "?" for s in spec["steps"]))
        elif group["kind"] == "search":
            axes = " ".join(f"{k}={v}" for k, v in spec["space"].items())
            first = sum(1 for r in runs if r["group"] == group["index"])
            out(f"search {group['name']}: {search_text.how(spec)}; {spec['trials']} trials "
                f"over {axes}; its first {first} trial{'s' if first != 1 else ''} below "
                "(the same with this --seed)")
    if "watch" in plan:
        out("then watch " + ", ".join(plan["watch"]["paths"]) + " and relaunch on changes")
    keys = formatting.varying_params([r["params"] for r in runs])
    rows = []
    for item in runs:
        what = item["detail"] if item["action"] != "start" else "starts now"
        if item["action"] == "start" and item["gpus"]:
            what = "starts now on GPU " + ",".join(map(str, item["gpus"]))
        rows.append([f"#{item['index']}", item["name"], item["target"],
                     str(item["gpu_count"]) if item["gpu_count"] else "-", what,
                     " ".join(f"{k}={item['params'][k]}" for k in keys if k in item["params"]),
                     " ".join(shlex.quote(a) for a in item["command"])])
    lines.extend(formatting.table(["#", "NAME", "TARGET", "GPUS", "WHAT", "PARAMS", "COMMAND"],
                                  rows).splitlines())
    for warning in plan["warnings"]:
        out(f"warning: {warning}")
    return lines
