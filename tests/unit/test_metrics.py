"""Metrics come from output lines and the metrics file, exactly once, with steps."""

import json
import math

from core.engine.ingest import MAX_LINE, IngestState, Ingestor, LineParser


def test_line_forms():
    parse = LineParser().parse
    assert parse(b"loss=0.31 acc=0.91") == {"loss": 0.31, "acc": 0.91}
    assert parse(b"epoch 3 done: val_loss: 0.25, lr = 1e-3") == {"val_loss": 0.25, "lr": 0.001}
    assert parse(b"[12:30:01] time: 12:30 url=http://x:80 loss=nan")["loss"] != 0
    assert math.isnan(parse(b"loss=nan")["loss"])
    assert parse(b'{"loss": 0.5, "name": "x", "ok": true}') == {"loss": 0.5}
    assert parse(b"\x1b[32mloss=0.2\x1b[0m") == {"loss": 0.2}
    assert parse(b"10%|#  | loss=0.9\r100%|###| loss=0.1\r\n") == {"loss": 0.1}
    assert parse(b"accuracy 93.5%") == {}


def test_config_patterns():
    parse = LineParser([r"accuracy (?P<acc>[0-9.]+)%", r"(?P<key>\w+) -> (?P<value>[0-9.]+)"]).parse
    assert parse(b"accuracy 93.5%") == {"acc": 93.5}
    assert parse(b"f1 -> 0.8") == {"f1": 0.8}


def test_steps_counters_and_exactly_once(tmp_path):
    log, mfile = tmp_path / "output.log", tmp_path / "metrics.jsonl"
    log.write_bytes(b"loss=1\nloss=0.9\npartial loss=0.")
    ingest = Ingestor(log, mfile)
    assert ingest.poll() == [("loss", 0, 1.0), ("loss", 1, 0.9)]
    with open(log, "ab") as handle:
        handle.write(b"5\nstep=10 loss=0.4\nacc=0.7\n")
    mfile.write_text(json.dumps({"step": 20, "val": 0.3}) + "\n")
    assert ingest.poll() == [("loss", 2, 0.5), ("loss", 10, 0.4), ("acc", 10, 0.7), ("val", 20, 0.3)]
    # A restarted engine resumes from the stored state: nothing again, nothing skipped.
    again = Ingestor(log, mfile, state=IngestState.from_dict(ingest.state.to_dict()))
    assert again.poll() == []
    with open(log, "ab") as handle:
        handle.write(b"loss=0.1\n")
    assert again.poll() == [("loss", 20, 0.1)]


def test_a_huge_line_without_newline_is_skipped(tmp_path):
    log = tmp_path / "output.log"
    log.write_bytes(b"loss=1\n" + b"x" * (MAX_LINE + 10))
    ingest = Ingestor(log, tmp_path / "none")
    assert ingest.poll() == [("loss", 0, 1.0)]
    with open(log, "ab") as handle:
        handle.write(b" loss=5\nloss=2\n")
    assert ingest.poll() == [("loss", 1, 2.0)]
