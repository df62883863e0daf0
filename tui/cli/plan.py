"""`tui launch/clone --dry-run`: print the engine's plan (core.engine.planning); nothing is recorded."""

from __future__ import annotations

import sys

from core.errors import ExitCode
from tui.cli.output import emit
from tui.plan_text import plan_lines


def show_plan(plan: dict, as_json: bool) -> int:
    if as_json:
        emit({"plan": plan})
        return ExitCode.OK
    for line in plan_lines(plan):
        sys.stdout.write(line + "\n")
    return ExitCode.OK
