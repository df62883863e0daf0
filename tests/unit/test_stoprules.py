"""Stop rules: parsing, and when each kind fires on a stream of metric points."""

import pytest

from core.errors import UsageError
from core.spec.stoprules import Checker, parse


def _first_firing(rule, values, key=None):
    checker = Checker([parse(rule)])
    key = key or parse(rule).key
    for step, value in enumerate(values):
        if why := checker.feed([(key, step, value)]):
            return step, why
    return None


def test_nan_rule_fires_on_nan_only():
    assert _first_firing("loss is nan", [0.5, 0.4, None, 0.3])[0] == 2   # None stands for NaN
    assert _first_firing("loss is nan", [0.5, float("inf")]) is None
    assert _first_firing("loss is not finite", [0.5, float("inf")])[0] == 1


def test_comparison_rules():
    step, why = _first_firing("val_loss > 10", [3, 9.9, 10, 10.5])
    assert step == 3 and "val_loss=10.5 at step 3" in why
    assert _first_firing("acc<=0.1", [0.5, 0.1])[0] == 1
    assert _first_firing("val/loss >= 1e3", [1, 999.9, 1000])[0] == 2
    assert _first_firing("loss > 10", [None, None]) is None, "NaN never compares true"


def test_plateau_counts_reports_without_improvement_in_the_right_direction():
    # higher is better for acc: best 0.8 at step 2, then 5 reports that do not beat it
    step, why = _first_firing("val_acc plateau 5", [0.5, 0.7, 0.8, 0.8, 0.75, 0.79, 0.8, 0.1])
    assert step == 7 and "best val_acc=0.8 at step 2" in why
    # lower is better for a loss: a falling loss never plateaus
    assert _first_firing("val_loss plateau 3", [5, 4, 3, 2, 1, 0.5]) is None
    assert _first_firing("val_loss plateau 2", [5, 4, 4.5, 4.2])[0] == 3
    # explicit direction wins over the name
    assert _first_firing("score plateau 2 min", [5, 4, 3, 2]) is None
    assert _first_firing("score plateau 2", [5, 4, 3])[0] == 2


def test_rules_ignore_other_metrics():
    checker = Checker([parse("loss is nan")])
    assert checker.feed([("acc", 0, None), ("loss", 0, 0.3)]) is None


@pytest.mark.parametrize("text", ["loss", "loss is big", "loss > ten", "val_acc plateau",
                                  "val_acc plateau 0", "> 3"])
def test_malformed_rules_are_refused(text):
    with pytest.raises(UsageError):
        parse(text)
