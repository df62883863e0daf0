"""The engine's study (real Optuna): rebuilt from what the store keeps, it is the same study.

A search's study is replayed here the way the engine drives it (ask, report, prune, tell),
its trials kept as the store keeps them (core.store.search_queries.trials), and rebuilt;
the rebuilt study must hold the same trials, values, intermediate values and pruner notes,
and judge the next point the way the original does.
"""

import math

import pytest

from core.engine.study import Study, check_available
from core.errors import UsageError
from core.spec import search as search_spec


def _search(sampler="tpe", pruner="asha", parallel=1, seed=11):
    space = [search_spec.parse_dimension("lr=log(1e-4,1e-1)"),
             search_spec.parse_dimension("layers=int(2,8)"),
             search_spec.parse_dimension("opt=adam,sgd")]
    return search_spec.build(space, sampler, "val_loss", 40, parallel, pruner, seed)


def _curve(values: dict, steps: int):
    floor = (math.log10(values["lr"]) + 2.5) ** 2 + 0.05 * values["layers"] + \
        (0.3 if values["opt"] == "sgd" else 0)
    return [(step, floor + 1 / step) for step in range(1, steps + 1)]


def _drive(study, stored, points, trials, steps=20, leave_running=0):
    """Ask `trials` trials, report their curves, tell them; the last `leave_running`
    stay in flight. Records what the engine stores for each."""
    for i in range(trials):
        number, values, attrs = study.ask()
        curve = _curve(values, steps)
        stored.append({"number": number, "params": values, "state": "running", "value": None,
                       "attrs": attrs})
        if i >= trials - leave_running:
            half = curve[:steps // 2]
            study.report(number, half)
            points[number] = half
            stored[-1]["attrs"] = study.attrs(number)
            continue
        pruned = study.report(number, curve)
        seen = [p for p in curve if p[0] <= pruned.step] if pruned else curve
        points[number] = seen
        state, value = ("pruned", seen[-1][1]) if pruned else ("complete", curve[-1][1])
        if i % 7 == 6:
            state, value = "fail", None
        study.tell(number, state, value)
        stored[-1].update(state=state, value=value, attrs=study.attrs(number))


def test_a_rebuilt_study_holds_the_same_trials_and_judges_the_next_point_the_same():
    search = _search()
    study = Study(1, search, search.seed)
    stored, points = [], {}
    _drive(study, stored, points, trials=15, leave_running=1)
    states = {t["state"] for t in stored}
    assert {"complete", "pruned", "fail", "running"} <= states, states
    rebuilt = Study.rebuild(1, search, stored, points)
    before = study.study.get_trials(deepcopy=False)
    after = rebuilt.study.get_trials(deepcopy=False)
    assert [t.number for t in after] == [t.number for t in before]
    for old, new in zip(before, after):
        assert (new.state, new.params, new.value) == (old.state, old.params, old.value)
        if old.state.name != "FAIL":
            assert new.intermediate_values == old.intermediate_values
        assert new.system_attrs == old.system_attrs
    running = stored[-1]["number"]
    assert list(rebuilt.live) == [running] and rebuilt.reported[running] == 10
    rest = _curve(stored[-1]["params"], 20)[10:]
    assert rebuilt.report(running, rest) == study.report(running, rest)
    assert rebuilt.next_number == study.next_number == 15


def test_a_rebuilt_sampler_does_not_propose_the_first_trials_again():
    search = _search(sampler="random")
    study = Study(2, search, search.seed)
    stored, points = [], {}
    _drive(study, stored, points, trials=4)
    rebuilt = Study.rebuild(2, search, stored, points)
    first = [t["params"] for t in stored]
    assert rebuilt.ask()[1] not in first


def test_the_first_proposals_depend_only_on_the_seed():
    """A dry run's proposals are the trials a launch with that seed asks first."""
    for sampler in ("tpe", "random", "cmaes"):
        search = _search(sampler=sampler, parallel=3)
        one = Study(0, search, search.seed)
        two = Study.rebuild(9, search, [], {})
        assert [one.ask()[1] for _ in range(3)] == [two.ask()[1] for _ in range(3)]


def test_a_pruned_trial_is_told_why_with_its_step_rung_and_value():
    search = _search(pruner="asha")
    study = Study(3, search, search.seed)
    for _ in range(2):    # the first sets the rungs' scale, the second reaches rung 0 first
        number, _values, _ = study.ask()
        assert study.report(number, [(step, 1.0) for step in range(1, 101)]) is None
        study.tell(number, "complete", 1.0)
    number, _values, _ = study.ask()
    pruned = study.report(number, [(1, 5.0), (2, 5.0)])
    assert pruned is not None and pruned.step == 1
    assert pruned.reason == "pruned at step 1, rung 0 (asha): val_loss=5"
    median = Study(4, _search(pruner="median"), 1)
    for _ in range(5):
        n, _v, _a = median.ask()
        median.report(n, [(1, 1.0), (2, 1.0)])
        median.tell(n, "complete", 1.0)
    n, _v, _a = median.ask()
    why = median.report(n, [(1, 3.0)])
    assert why.reason.startswith("pruned at step 1 (median pruner): val_loss=3, worse than")


def test_a_step_already_reported_is_not_reported_again():
    search = _search(pruner=None)
    study = Study(5, search, 1)
    number, _values, _ = study.ask()
    assert study.report(number, [(1, 0.5), (2, 0.4), (2, 0.3)]) is None
    study.report(number, [(2, 9.0), (3, 0.2)])
    trial = study.study.get_trials(deepcopy=False)[number]
    assert trial.intermediate_values == {1: 0.5, 2: 0.3, 3: 0.2}


def test_gp_needs_pytorch_and_scipy_where_the_engine_runs():
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here: gp is offered")
    with pytest.raises(UsageError) as info:
        check_available("gp")
    assert "PyTorch" in info.value.message and "--search tpe" in info.value.hint
