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
