"""The language of a search: its space, objective and budget, parsed or refused with a hint."""

import math

import pytest

from core.errors import UsageError
from core.spec import search
from core.spec.workflow_file import steps_from_file


def test_each_axis_form_is_a_dimension_and_integer_ranges_have_no_size_limit():
    lr = search.parse_dimension("lr=log(1e-4, 1e-1)")
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-1, True)
    drop = search.parse_dimension("drop=uniform(0,0.5)")
    assert (drop.type, drop.log) == ("float", False)
    width = search.parse_dimension("width=int(16, 1000000000)")       # a sweep refuses this
    assert (width.type, width.low, width.high, width.step) == ("int", 16, 1_000_000_000, 1)
    even = search.parse_dimension("bs=range(64, 8, -8)")
    assert (even.low, even.high, even.step) == (16, 64, 8)
    assert even.contains(24) and not even.contains(20)
    opt = search.parse_dimension("opt=adam, sgd")
    assert (opt.type, opt.choices) == ("choice", ("adam", "sgd"))


@pytest.mark.parametrize("text, needle", [
    ("lr", "expected KEY=VALUES"), ("lr=log(0,1)", "A > 0"), ("n=int(3,1)", "A < B"),
    ("n=int(1.5,4)", "integers"), ("n=range(5,5)", "no values"), ("x=uniform(0,inf)", "finite"),
    ("l\x1b[2Jr=1,2", "not a param name"), ("2lr=1,2", "not a param name"),
])
def test_a_bad_axis_is_refused_with_the_syntax(text, needle):
    with pytest.raises(UsageError) as info:
        search.parse_dimension(text)
    assert needle in info.value.message and info.value.hint
    assert "\x1b" not in info.value.message, "a hostile name is quoted, not printed"


def test_a_float_goes_into_the_command_exactly_and_comes_back_the_same():
    lr = search.parse_dimension("lr=log(1e-5,1)")
    for value in (0.0031622776601683794, 1e-5, 0.1 + 0.2, 7.000000000000001e-05):
        assert lr.value(lr.text(value)) == value
    layers = search.parse_dimension("layers=int(2,8)")
    assert layers.text(5) == "5" and layers.value("5") == 5


def test_the_objective_reads_its_direction_from_the_name_the_config_or_the_text():
    assert search.parse_objective("val_loss").direction == "min"
    assert search.parse_objective("val_acc").direction == "max"
    assert search.parse_objective("wer_score", {"wer_score": "higher"}).direction == "max"
    best = search.parse_objective("val_loss:max:best")
    assert (best.direction, best.summary, best.text) == ("max", "best", "val_loss:max:best")
    mean = search.parse_objective("loss:mean5")
    assert (mean.direction, mean.summary, mean.window, mean.text) == ("min", "mean", 5,
                                                                     "loss:min:mean5")


@pytest.mark.parametrize("text", ["", "val loss", "loss:lowest", "loss:min:max", "a:b:c:d",
                                  "loss:mean0", "\x1b[31mloss"])
def test_a_bad_objective_is_refused(text):
    with pytest.raises(UsageError) as info:
        search.parse_objective(text)
    assert "objective looks like" in info.value.hint


def test_the_objective_value_is_the_last_the_best_or_a_mean_of_the_last_values():
    values = [0.9, 0.5, 0.7, 0.6]
    assert search.parse_objective("loss").value(values) == 0.6
    assert search.parse_objective("loss:best").value(values) == 0.5
    assert search.parse_objective("acc:best").value(values) == 0.9
    assert search.parse_objective("loss:mean2").value(values) == pytest.approx(0.65)
    assert search.parse_objective("loss:mean10").value(values) == pytest.approx(0.675)
    assert search.parse_objective("loss").value([]) is None
    assert math.isnan(search.parse_objective("loss").value([0.3, math.nan]))
    assert search.parse_objective("loss:best").value([0.3, math.nan]) == 0.3


def _build(**given):
    space = [search.parse_dimension("lr=log(1e-4,1e-1)"), search.parse_dimension("opt=a,b")]
    args = {"sampler": "tpe", "objective": "val_loss", "trials": 20, "parallel": 4,
            "pruner": "asha", "seed": 7, **given}
    return search.build(space, args["sampler"], args["objective"], args["trials"],
                        args["parallel"], args["pruner"], args["seed"])


def test_a_search_is_recorded_as_its_spec_and_read_back_the_same():
    built = _build()
    spec = built.to_dict()
    assert spec == {"space": {"lr": "log(1e-4,1e-1)", "opt": "a,b"}, "keys": ["lr", "opt"],
                    "sampler": "tpe", "pruner": "asha",
                    "objective": {"metric": "val_loss", "direction": "min", "summary": "last"},
                    "seed": 7, "trials": 20, "parallel": 4}
    assert search.Search.from_dict(spec) == built
    assert _build(seed=None).seed > 0, "a seed is chosen and recorded when none is given"
    assert _build(parallel=None).parallel == 1 and _build(trials=2).parallel == 2


@pytest.mark.parametrize("given, needle", [
    ({"sampler": "bayes"}, "not a sampler"), ({"objective": None}, "needs --objective"),
    ({"trials": None}, "needs --trials"), ({"trials": 0}, "expected 1 to"),
    ({"parallel": 0}, "expected 1 to"), ({"pruner": "early"}, "not a pruner"),
    ({"seed": -1}, "--seed"),
])
def test_a_search_missing_or_wrong_in_any_part_is_refused(given, needle):
    with pytest.raises(UsageError) as info:
        _build(**given)
    assert needle in info.value.message


def test_a_search_needs_a_space_and_each_param_once():
    with pytest.raises(UsageError, match="needs a space"):
        search.build([], "tpe", "loss", 4, 1, None, 1)
    lr = search.parse_dimension("lr=log(1e-4,1e-1)")
    with pytest.raises(UsageError, match="searched twice"):
        search.build([lr, lr], "tpe", "loss", 4, 1, None, 1)


def test_best_placeholders_are_found_and_filled_with_the_best_trials_values():
    words = ["python", "train.py", "--lr", "{best.lr}", "--tag=run-{best.opt}", "{lr}"]
    assert search.best_placeholders(words) == {"lr", "opt"}
    assert search.fill_best(words, {"lr": "0.003", "opt": "adam"}) == \
        ["python", "train.py", "--lr", "0.003", "--tag=run-adam", "{lr}"]


def test_a_workflow_step_with_search_keys_is_a_search_over_its_sweep(tmp_path):
    path = tmp_path / "flow.toml"
    path.write_text('[[step]]\nname = "tune"\ncommand = "python3 t.py --lr {lr}"\n'
                    'search = "random"\nobjective = "val_acc:max"\ntrials = 12\nparallel = 3\n'
                    'prune = "median"\nseed = 5\nsweep = { lr = "log(1e-4,1)", opt = ["a", "b"] }\n'
                    '[[step]]\nname = "final"\nafter = ["tune"]\n'
                    'command = "python3 t.py --lr {best.lr} --steps 100"\n')
    tune, final = steps_from_file(path, [])
    assert tune.sweep is None and tune.search.sampler == "random"
    assert (tune.search.trials, tune.search.parallel, tune.search.pruner, tune.search.seed) == \
        (12, 3, "median", 5)
    assert tune.search.objective.direction == "max" and tune.search.keys == ["lr", "opt"]
    assert final.after_steps == ("tune",) and final.search is None


@pytest.mark.parametrize("text, needle", [
    ('command = "x"\nobjective = "loss"\n', "objective: goes with search"),
    ('command = "x"\nsearch = "tpe"\nobjective = "loss"\ntrials = 3\nsamples = 2\n'
     '[sweep]\nlr = [1, 2]\n', "samples: a search chooses"),
    ('command = "x"\nsearch = "tpe"\ntrials = 3\n[sweep]\nlr = [1, 2]\n', "needs --objective"),
    ('command = "x"\nsearch = "tpe"\nobjective = "loss"\ntrials = 3\n', "needs a space"),
    ('command = "x"\nsearch = 3\n', "search: expected a sampler name"),
])
def test_a_bad_search_step_is_refused_naming_the_file(tmp_path, text, needle):
    path = tmp_path / "flow.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        steps_from_file(path, [])
    assert info.value.message.startswith(f"{path}: ") and needle in info.value.message
