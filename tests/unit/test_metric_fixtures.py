"""The metric readers on output recorded from the real libraries (tests/fixtures/metrics).

Each recording's truth comes from the library's own history objects, not from parsing:
every point it printed is stored, at the step it printed, with the value it keeps, and
nothing else is stored (no metric invented from its log lines).
"""

import math
import random

import pytest

from core.engine.ingest import Ingestor
from tests.fixtures.metrics.record import RECORDINGS, load


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


def close(got: float, want: float, tolerance: float) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    return math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
@pytest.mark.parametrize("pieces", [1, 97])
def test_recorded_output_is_read_as_the_library_reports_it(tmp_path, name, pieces):
    output, truth = load(name)
    got = stored(ingest_all(tmp_path, output, pieces))
    expected_names = set(truth["points"]) | set(truth["steps"])
    assert set(got) == expected_names, f"invented: {set(got) - expected_names}, " \
                                       f"missed: {expected_names - set(got)}"
    tolerance = truth["tolerance"]
    for metric, points in truth["points"].items():
        series = got[metric]
        if points[0][0] is None:                 # a progress bar: the values, in order
            values = [series[step] for step in sorted(series)]
            assert len(values) == len(points), metric
            assert all(close(g, w, tolerance) for g, (_, w) in zip(values, points)), metric
            continue
        for step, value in points:
            assert step in series, f"{metric}: no point at step {step}"
            assert close(series[step], value, tolerance), (metric, step, series[step], value)
        if metric not in truth["steps"]:
            assert sorted(series) == sorted({step for step, _ in points}), metric
    for metric, steps in truth["steps"].items():
        assert sorted(got[metric]) == steps, metric
