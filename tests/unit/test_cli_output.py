"""CLI output that scripts read: one write per record, so parallel writers never mix."""

import io
import sys

from tui.cli.launch import _report_new


class _RecordingRaw(io.RawIOBase):
    def __init__(self):
        self.writes = []

    def writable(self):
        return True

    def write(self, data):
        self.writes.append(bytes(data))
        return len(data)


def test_launched_id_is_one_write_even_unbuffered(monkeypatch):
    raw = _RecordingRaw()
    unbuffered = io.TextIOWrapper(raw, write_through=True)   # what PYTHONUNBUFFERED gives
    monkeypatch.setattr(sys, "stdout", unbuffered)
    _report_new({"run": {"id": 246, "name": "x", "target": "local"}}, as_json=False)
    assert raw.writes == [b"246\n"]
