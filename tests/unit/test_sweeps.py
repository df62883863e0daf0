"""Sweeps: grids in order, seeded random search that repeats, and clear errors."""

import math

import pytest

from core.spec import sweeps
from core.errors import UsageError


def _sweep(*axes, samples=None, seed=None):
    return sweeps.build([sweeps.parse_axis(a) for a in axes], samples, seed)


def test_a_grid_is_every_combination_last_axis_fastest():
    points = sweeps.points(_sweep("lr=0.1,0.01,0.001", "bs=32,64"))
    assert points == [{"lr": lr, "bs": bs} for lr in ("0.1", "0.01", "0.001") for bs in ("32", "64")]


def test_integer_axes_enumerate_in_a_grid():
    assert [p["seed"] for p in sweeps.points(_sweep("seed=range(0,10,3)"))] == ["0", "3", "6", "9"]
    assert [p["layers"] for p in sweeps.points(_sweep("layers=int(1, 3)"))] == ["1", "2", "3"]


def test_random_search_is_seeded_in_range_and_repeatable():
    sweep = _sweep("lr=log(1e-4,1e-1)", "drop=uniform(0, 0.5)", "layers=int(1,4)", "bs=32,64",
                   samples=50, seed=7)
    first, again = sweeps.points(sweep), sweeps.points(_sweep(
        "lr=log(1e-4,1e-1)", "drop=uniform(0, 0.5)", "layers=int(1,4)", "bs=32,64",
        samples=50, seed=7))
    assert first == again and len(first) == 50
    lrs = [float(p["lr"]) for p in first]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about as many points per decade, so the geometric middle splits them.
    below = sum(lr < math.sqrt(1e-4 * 1e-1) for lr in lrs)
    assert 10 <= below <= 40
    assert all(0 <= float(p["drop"]) <= 0.5 for p in first)
    assert {p["layers"] for p in first} <= {"1", "2", "3", "4"}
    assert {p["bs"] for p in first} == {"32", "64"}
    assert sweeps.points(_sweep("lr=log(1e-4,1e-1)", samples=5, seed=8)) != \
        sweeps.points(_sweep("lr=log(1e-4,1e-1)", samples=5, seed=7))


def test_a_random_search_without_a_seed_gets_one_recorded():
    sweep = _sweep("lr=uniform(0,1)", samples=3)
    assert isinstance(sweep.seed, int) and sweep.to_dict()["seed"] == sweep.seed
    assert sweep.to_dict()["mode"] == "random" and sweep.to_dict()["keys"] == ["lr"]


@pytest.mark.parametrize("axes, samples, message", [
    (["lr=log(1e-4,1e-1)"], None, "a continuous range has no grid"),
    (["lr=log(0,1)"], 3, "needs A > 0"),
    (["lr=uniform(1,0)"], 3, "needs A < B"),
    (["lr"], None, "expected KEY=VALUES"),
    (["lr=0.1,,0.2"], None, "an empty value"),
    (["lr=0.1", "lr=0.2"], None, "swept twice"),
    (["lr=uniform(a,1)"], 2, "is not a number"),
    (["a=range(0,200)", "b=range(0,200)"], None, "the grid has 40000 points"),
])
def test_bad_sweeps_are_refused_with_the_reason(axes, samples, message):
    with pytest.raises(UsageError, match=message):
        _sweep(*axes, samples=samples)


def test_toml_axes_take_lists_and_range_strings():
    assert sweeps.axis_from_toml("lr", [0.1, 0.01], "f").values == ("0.1", "0.01")
    assert sweeps.axis_from_toml("flag", [True, False], "f").values == ("true", "false")
    assert sweeps.axis_from_toml("lr", "log(1e-3, 1)", "f").log
    with pytest.raises(UsageError, match="expected a list of values"):
        sweeps.axis_from_toml("lr", 3, "f")
