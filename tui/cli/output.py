"""Where CLI output goes: data to stdout (JSON objects carry the schema), talk to stderr.

Every message is one line made safe (core.textsafe.inline): the names, reasons and paths in
it cannot forge lines or reach the terminal as control sequences.
"""

from __future__ import annotations

import json
import sys

SCHEMA = 1


def emit(data: dict) -> None:
    sys.stdout.write(json.dumps({"schema": SCHEMA, **data}) + "\n")


def say(message: str) -> None:
    # lazy: core.textsafe compiles its patterns on import (~15 ms, measured with
    # -X importtime), and the hot paths (`tui launch` to a pipe, `tui status --json`) say
    # nothing.
    from core.textsafe import inline
    print(inline(message), file=sys.stderr)
