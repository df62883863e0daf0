"""The metric readers on output recorded from the real libraries (tests/fixtures/metrics).

Each recording's truth comes from the library's own history objects, not from parsing:
every point it printed is stored, at the step it printed, with the value it keeps, and
nothing else is stored (no metric invented from its log lines). Each recording is also
fed in 97 random pieces, as a run's output reaches ingest while it is written.
"""

import math
import random

import pytest

from core.engine.ingest import Ingestor
from tests.fixtures.metrics.record import RECORDINGS, load, mismatches


def ingest_all(tmp_path, output: bytes, pieces: int = 1) -> list:
    """Every point ingest stores when the output arrives in `pieces` random pieces."""
    log = tmp_path / "output.log"
    log.write_bytes(b"")
    ingestor = Ingestor(log, tmp_path / "metrics.jsonl")
    cuts = sorted(random.Random(pieces).sample(range(1, len(output)), pieces - 1))
    rows, start = [], 0
    for end in [*cuts, len(output)]:
        with open(log, "ab") as handle:
            handle.write(output[start:end])
        start = end
        rows += ingestor.poll().rows
    rows += ingestor.poll(final=True).rows
    return rows


def stored(rows) -> dict:
    """{name: {step: value}} as the store keeps them (a later point at a step replaces)."""
    out: dict = {}
    for name, step, value in rows:
        out.setdefault(name, {})[step] = math.nan if value is None else value
    return out


@pytest.mark.parametrize("name", sorted(RECORDINGS))
@pytest.mark.parametrize("pieces", [1, 97])
def test_recorded_output_is_read_as_the_library_reports_it(tmp_path, name, pieces):
    output, truth = load(name)
    assert mismatches(stored(ingest_all(tmp_path, output, pieces)), truth) == []


def test_the_comparison_notices_a_wrong_step_or_an_invented_metric(tmp_path):
    output, truth = load("xgboost_train")
    good = stored(ingest_all(tmp_path, output))
    shifted = {name: {step + 1: v for step, v in series.items()} for name, series in good.items()}
    assert mismatches(shifted, truth)
    assert mismatches({**good, "positive": {0: 741.0}}, truth)
