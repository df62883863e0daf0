"""Params are read from the argv and written back into it exactly."""

import pytest

from core.spec import params
from core.errors import UsageError


def test_infers_both_option_forms_and_flags():
    argv = ["python", "train.py", "--lr", "0.01", "--bs=32", "--amp", "--name", "a b", "--x", "-1e-3"]
    assert params.infer(argv) == {"lr": 0.01, "bs": 32, "amp": True, "name": "a b", "x": -0.001}


def test_setting_a_param_rewrites_its_value_and_keeps_other_text():
    argv = ["python", "train.py", "--lr", "0.010", "--bs=32"]
    command, values = params.resolve(argv, {"bs": "64"})
    assert command == ["python", "train.py", "--lr", "0.010", "--bs=64"]
    assert values == {"lr": 0.01, "bs": 64}


def test_placeholders_are_filled_and_unknown_braces_left_alone():
    argv = ["python", "-c", "print({1: 2})", "--lr", "{lr}", "--out=runs/{lr}"]
    command, values = params.resolve(argv, {"lr": "0.1"})
    assert command == ["python", "-c", "print({1: 2})", "--lr", "0.1", "--out=runs/0.1"]
    assert values["lr"] == 0.1


def test_new_params_are_appended_and_false_flags_removed():
    command, values = params.resolve(["python", "t.py", "--amp"], {"amp": "false", "seed": "3"})
    assert command == ["python", "t.py", "--seed", "3"]
    assert values == {"amp": False, "seed": 3}      # kept: it differs from the parent


def test_roundtrip_of_inferred_params():
    argv = ["python", "t.py", "--lr", "0.5", "--epochs", "3"]
    command, values = params.resolve(argv, {})
    assert command == argv and values == params.infer(argv)


def test_bad_assignment_is_a_clear_error():
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        params.parse_assignments(["lr"])
