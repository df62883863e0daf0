"""Where CLI output goes: data to stdout (JSON objects carry the schema), talk to stderr."""

from __future__ import annotations

import json
import sys

SCHEMA = 1


def emit(data: dict) -> None:
    sys.stdout.write(json.dumps({"schema": SCHEMA, **data}) + "\n")


def say(message: str) -> None:
    print(message, file=sys.stderr)
