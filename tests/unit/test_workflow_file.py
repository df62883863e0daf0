"""Workflow files: steps, defaults, dependency order, and cycles refused."""

import pytest

from core.errors import UsageError
from core.spec.workflow_file import steps_from_file


def _write(tmp_path, text):
    path = tmp_path / "flow.toml"
    path.write_text(text)
    return path


def test_a_file_without_steps_is_one_sweep(tmp_path):
    path = _write(tmp_path, 'command = "python train.py --lr {lr}"\nsamples = 4\nseed = 3\n'
                            '[sweep]\nlr = "log(1e-4, 1e-1)"\nbs = [32, 64]\n')
    (step,) = steps_from_file(path, [])
    assert step.argv == ["python", "train.py", "--lr", "{lr}"]
    assert step.sweep.samples == 4 and step.sweep.seed == 3 and step.sweep.keys == ["lr", "bs"]


def test_steps_come_in_dependency_order_with_defaults(tmp_path):
    path = _write(tmp_path, """
retries = 1
[[step]]
name = "evaluate"
command = ["python", "eval.py"]
after = ["train"]
[[step]]
name = "train"
command = "python train.py"
after = ["prepare"]
sweep = { lr = [0.1, 0.01] }
retries = 3
[[step]]
name = "prepare"
command = "python prep.py"
""")
    steps = steps_from_file(path, [])
    assert [s.name for s in steps] == ["prepare", "train", "evaluate"]
    assert [s.policy.retries for s in steps] == [1, 3, 1]
    assert steps[2].after_steps == ("train",)


def test_a_cycle_is_refused_naming_its_steps(tmp_path):
    path = _write(tmp_path, """
[[step]]
name = "a"
command = "true"
after = ["c"]
[[step]]
name = "b"
command = "true"
after = ["a"]
[[step]]
name = "c"
command = "true"
after = ["b"]
""")
    with pytest.raises(UsageError, match="the steps form a cycle: a -> c -> b -> a"):
        steps_from_file(path, [])


@pytest.mark.parametrize("text, message", [
    ('[[step]]\nname = "a"\ncommand = "true"\nafter = ["nope"]\n', "no step has that name"),
    ('[[step]]\nname = "a"\ncommand = "true"\n[[step]]\nname = "a"\ncommand = "x"\n',
     "two steps are named 'a'"),
    ('comand = "true"\n', "comand: unknown key"),
    ('command = 3\n', "expected a string or a list"),
    ('command = "true"\nsamples = 3\n', "needs a \\[sweep\\] table"),
    ('command = "true"\ngpus = "two"\n', "gpus: expected an integer"),
    ('command = [\n', "invalid TOML"),
])
def test_mistakes_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        steps_from_file(_write(tmp_path, text), [])


@pytest.mark.parametrize("text, where, key, close", [
    ('command = "true"\nretry_dealy = 3\n', "", "retry_dealy", "retry_delay"),
    ('[[step]]\nname = "prep"\ncommand = "true"\n[[step]]\nname = "train"\ncommand = "true"\n'
     'retry_dealy = 3\n', "step[1] (train): ", "retry_dealy", "retry_delay"),
    ('[[step]]\ncommand = "true"\nstop-if = "loss is nan"\n', "step[0]: ", "stop-if",
     "stop_if"),
    ('retires = 2\n[[step]]\ncommand = "true"\n', "", "retires", "retries"),
    ('[[steps]]\ncommand = "true"\n', "", "steps", "step"),
])
def test_an_unknown_key_at_any_level_is_refused_with_file_step_and_key(tmp_path, text, where,
                                                                       key, close):
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        steps_from_file(path, [])
    assert info.value.message == f"{path}: {where}{key}: unknown key"
    assert info.value.hint.startswith(f"did you mean {close}? keys: ")


def test_a_policy_value_toml_allows_but_a_run_cannot_use_is_refused_with_its_step(tmp_path):
    path = _write(tmp_path, '[[step]]\nname = "a"\ncommand = "true"\nretry_delay = inf\n')
    with pytest.raises(UsageError) as info:
        steps_from_file(path, [])
    assert info.value.message.startswith(f"{path}: step[0] (a): retry_delay: expected a finite")
