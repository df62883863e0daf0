"""How an adaptive search's progress reads, in the CLI (`tui status --group`, `tui search
list`) and the app (its group row, the line above the log, the toast when it ends).

Every function takes a GROUP as core.store.queries.groups_json gives it (kind "search",
with its `spec` and `search` progress). Names and params come from the user and from
runs: callers make the text terminal-safe (core.textsafe, tui.runlist.columns.plain).
"""

from __future__ import annotations

from tui.formatting import STATE_GLYPHS, number


def counts(progress: dict) -> str:
    """`12/40 ▶4 ■3 ✗1`: trials done (completed and pruned) of the budget, in flight,
    pruned (their runs end stopped) and failed."""
    text = f"{progress['done']}/{progress['budget']}"
    for key, glyph in (("running", STATE_GLYPHS["running"]), ("pruned", STATE_GLYPHS["stopped"]),
                       ("failed", STATE_GLYPHS["failed"])):
        if progress[key]:
            text += f" {glyph}{progress[key]}"
    return text


def best_text(group: dict, with_params: bool = True) -> str | None:
    """`best val_loss 0.1234 (run 57: lr=0.003 layers=4)`, or None before any trial completed."""
    best = group["search"]["best"]
    if best is None:
        return None
    metric = group["spec"]["objective"]["metric"]
    text = f"best {metric} {number(best['value'])} (run {best['run']}"
    if with_params:
        text += ": " + " ".join(f"{k}={number(v)}" for k, v in best["params"].items())
    return text + ")"


def how(spec: dict) -> str:
    """`tpe, asha pruning, val_loss:min (last value), 4 at once, seed 7`."""
    objective = spec["objective"]
    summary = {"last": "last value", "best": "best value"}.get(
        objective["summary"], f"mean of the last {objective['summary'][4:]} values")
    pruner = f"{spec['pruner']} pruning" if spec["pruner"] else "no pruning"
    return (f"{spec['sampler']}, {pruner}, {objective['metric']}:{objective['direction']} "
            f"({summary}), {spec['parallel']} at once, seed {spec['seed']}")


def line(group: dict) -> str:
    """One line: `search 3 train: running · 12/40 done (3 pruned, 1 failed), 4 in flight ·
    best val_loss 0.1234 (run 57: lr=0.003) · tpe, asha pruning, ...`."""
    progress = group["search"]
    done = f"{progress['done']}/{progress['budget']} trials done"
    extra = [f"{progress[k]} {k}" for k in ("pruned", "failed") if progress[k]]
    if extra:
        done += f" ({', '.join(extra)})"
    if progress["running"]:
        done += f", {progress['running']} in flight"
    parts = [f"search {group['id']} {group['name']}: {progress['state']}", done]
    if progress["reason"] and progress["state"] != "running":
        parts[0] += f" ({progress['reason']})"
    best = best_text(group)
    if best:
        parts.append(best)
    parts.append(how(group["spec"]))
    return " · ".join(parts)


def ended(group: dict) -> str:
    """The toast when a search ends: `search 3 train finished: 40 trials (12 pruned) ·
    best val_loss 0.1234 (run 57)`."""
    progress = group["search"]
    text = f"search {group['id']} {group['name']} {progress['state']}: {progress['done']} trials"
    if progress["pruned"]:
        text += f" ({progress['pruned']} pruned)"
    best = best_text(group, with_params=False)
    return text + (f" · {best}" if best else " · no trial completed")
