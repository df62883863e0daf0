"""The Slurm tests start the 1-minute time-limited run first, so its wait overlaps them."""

import pytest


@pytest.fixture(scope="package", autouse=True)
def _time_limit_first(time_limited_run):
    """Launches `time_limited_run` before the first slurm test; test_time_limit.py, which
    sorts last, checks it."""
