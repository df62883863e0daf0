"""The engine's wire format: one JSON object per line over a unix socket, each way.

A request is `{"op": NAME, ...its fields}`, one typed class per op (core.requests, which
refuses an unknown op or field); the reply is `{"ok": true, ...}` or
`{"ok": false, "error": {"type", "title", "message", "hint", "code"}}`. Streaming
requests (`wait` with `"stream": true`) send event lines before the final reply.
"""

from __future__ import annotations

import json

from core.errors import EngineError, UsageError

MAX_LINE = 64 * 1024 * 1024      # a launch carries the client's environment
# A launch or clone of more runs than this answers with its ids as ranges and a count
# instead of every run's JSON, unless the request asks for `full` (README: JSON output).
COMPACT_RUNS = 1000


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise EngineError(f"malformed message from the engine socket: {exc}") from None
    if not isinstance(message, dict):
        raise EngineError("malformed message from the engine socket: not an object")
    return message


def decode_request(line: bytes) -> object:
    """A request line as the engine reads it: any JSON value (core.requests.parse says
    whether it is a request); a line that is not JSON is the sender's mistake."""
    try:
        return json.loads(line)
    except ValueError as exc:
        raise UsageError(f"a request must be one line of JSON: {exc}",
                         hint='for example {"op": "ping"}') from None


def id_ranges(ids: list[int]) -> list[list[int]]:
    """Run ids, in their order, as [first, last] ranges of consecutive ids."""
    out: list[list[int]] = []
    for run_id in ids:
        if out and run_id == out[-1][1] + 1:
            out[-1][1] = run_id
        else:
            out.append([run_id, run_id])
    return out


def expand_ranges(ranges: list[list[int]]) -> list[int]:
    return [run_id for first, last in ranges for run_id in range(first, last + 1)]
