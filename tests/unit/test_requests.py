"""Engine requests are typed: a typo, an unknown field or a wrong type is refused, never dropped."""

import json

import pytest

from core import requests
from core.engine.server import Engine
from core.engine.watching import stored_request
from core.errors import UsageError
from core.paths import StorePaths
from core.requests import (REQUESTS, CloneRequest, LaunchRequest, PlanRequest, RunPolicy,
                           WaitRequest)

LAUNCH = {"cwd": "/p", "env": {"PATH": "/bin"}, "argv": ["python3", "train.py"]}
CLONE = {"parent": 3, "cwd": "/p", "env": {}}

# The smallest valid message of every op.
VALID = {"launch": LAUNCH, "clone": CLONE, "plan": {"launch": LAUNCH},
         "cancel": {"ids": [1]}, "remove": {"ids": [1]}, "reparse": {"ids": [1]},
         "wait": {"ids": [1, 2]}, "search_stop": {"group": 1},
         "search_extend": {"group": 1, "trials": 5},
         "unwatch": {"ids": [1]}, "targets": {}, "watches": {}, "status": {}, "ping": {},
         "stop": {}, "files": {"id": 1}, "pull": {"id": 1}}


def test_every_op_has_a_request_class_and_an_engine_handler(tmp_path):
    assert set(VALID) == set(REQUESTS)
    assert set(Engine(StorePaths(tmp_path))._ops) == set(REQUESTS)


@pytest.mark.parametrize("op", sorted(VALID))
def test_each_request_reads_back_what_it_sends(op):
    request = requests.parse({"op": op, **VALID[op]})
    assert type(request) is REQUESTS[op] and request.OP == op
    assert requests.parse(request.message()) == request


@pytest.mark.parametrize("op", sorted(VALID))
def test_each_request_refuses_an_unknown_field_naming_it_and_the_known_ones(op):
    with pytest.raises(UsageError) as info:
        requests.parse({"op": op, **VALID[op], "colour": "blue"})
    assert info.value.message == f"{op} request: colour: unknown field"
    assert "known fields:" in info.value.hint
    assert all(name in info.value.hint for name in REQUESTS[op].FIELDS)


def test_a_misspelled_field_gets_a_did_you_mean_hint():
    with pytest.raises(UsageError) as info:
        LaunchRequest.from_dict({**LAUNCH, "retry_dealy": 3})
    assert info.value.message == "launch request: retry_dealy: unknown field"
    assert info.value.hint.startswith("did you mean policy.retry_delay?")
    with pytest.raises(UsageError) as info:
        LaunchRequest.from_dict({**LAUNCH, "policy": {"retires": 2}})
    assert info.value.message == "launch request: policy: retires: unknown field"
    assert info.value.hint.startswith("did you mean retries?")
    with pytest.raises(UsageError) as info:
        LaunchRequest.from_dict({**LAUNCH, "agrv": ["x"]})
    assert info.value.hint.startswith("did you mean argv?")


@pytest.mark.parametrize("cls, data, needle", [
    (LaunchRequest, {**LAUNCH, "gpus": "two"}, "launch request: gpus: expected an integer or "
                                               "null, got 'two'"),
    (LaunchRequest, {**LAUNCH, "gpus": True}, "gpus: expected an integer or null, got True"),
    (LaunchRequest, {**LAUNCH, "gpus": 10 ** 30}, "gpus: expected an integer"),
    (LaunchRequest, {**LAUNCH, "argv": "python3 train.py"}, "argv: expected a list of strings"),
    (LaunchRequest, {**LAUNCH, "argv": ["a\0b"]}, "argv: expected a list of strings"),
    (LaunchRequest, {**LAUNCH, "env": {"A": 1}}, "env: expected a table of strings"),
    (LaunchRequest, {**LAUNCH, "force": "yes"}, "force: expected true or false, got 'yes'"),
    (LaunchRequest, {**LAUNCH, "debounce": float("nan")}, "debounce: expected a finite number"),
    (LaunchRequest, {**LAUNCH, "policy": {"retries": "3"}}, "policy: retries: expected an "
                                                            "integer or null, got '3'"),
    (LaunchRequest, {**LAUNCH, "policy": {"after": [1.5]}}, "policy: after: expected a list "
                                                            "of run ids"),
    (LaunchRequest, {**LAUNCH, "policy": "retry twice"}, "policy: expected an object"),
    (CloneRequest, {**CLONE, "parent": "3"}, "clone request: parent: expected an integer, "
                                             "got '3'"),
    (CloneRequest, {**CLONE, "tags": [1]}, "tags: expected a list of strings or null"),
    (WaitRequest, {"ids": [1, "2"]}, "wait request: ids: expected a list of run ids"),
    (WaitRequest, {"ids": [1], "stream": 1}, "stream: expected true or false, got 1"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(cls, data, needle):
    with pytest.raises(UsageError) as info:
        cls.from_dict(data)
    assert needle in info.value.message
    assert info.value.hint and "\n" not in info.value.message


def test_missing_fields_and_unknown_ops_are_refused():
    with pytest.raises(UsageError, match="launch request: cwd: missing"):
        LaunchRequest.from_dict({"env": {}, "argv": []})
    with pytest.raises(UsageError) as info:
        requests.parse({"op": "lunch"})
    assert info.value.message == "unknown request 'lunch'" and "launch" in info.value.hint
    with pytest.raises(UsageError, match="must be a JSON object"):
        requests.parse(["launch"])
    with pytest.raises(UsageError, match="give launch or clone"):
        PlanRequest()
    with pytest.raises(UsageError, match="give launch or clone"):
        PlanRequest(launch=LaunchRequest(**LAUNCH), clone=CloneRequest(**CLONE))


def test_a_hostile_field_name_is_quoted_and_short():
    with pytest.raises(UsageError) as info:
        requests.parse({"op": "ping", "\x1b]0;pwned\x07" + "x" * 200: 1})
    assert "\x1b" not in info.value.message and "\x07" not in info.value.message
    assert len(info.value.message) < 120


def test_requests_are_frozen_values():
    request = LaunchRequest(**LAUNCH, policy=RunPolicy(retries=2))
    with pytest.raises(AttributeError, match="frozen"):
        request.gpus = 4
    changed = request.replace(gpus=1)
    assert changed.gpus == 1 and request.gpus is None and changed.policy.retries == 2
    assert changed != request and changed.replace(gpus=None) == request
    with pytest.raises(UsageError, match="launch request: gpus: expected an integer"):
        request.replace(gpus="1")
    with pytest.raises(UsageError, match="launch request: colour: unknown field"):
        LaunchRequest(**LAUNCH, colour="blue")


def test_given_lists_and_tables_are_copied_not_shared():
    argv = ["true"]
    request = LaunchRequest(cwd="/", env={}, argv=argv)
    argv.append("--lr")
    assert request.argv == ["true"]
    assert LaunchRequest(**LAUNCH).tags is not LaunchRequest(**LAUNCH).tags


def test_a_watch_stored_by_an_earlier_runyard_relaunches_with_the_same_policy():
    """Watches keep their launch request in the store; before the policy was one value its
    fields sat at the top (this is what `tui launch --watch` stored then)."""
    earlier = {**LAUNCH, "name": None, "target": None, "gpus": None, "set": [],
               "env_vars": [], "tags": [], "sweep": [], "samples": None, "seed": None,
               "after": [3], "retries": 2, "retry_on": "OOM", "retry_delay": 1.0,
               "stop_if": ["loss is nan"], "checkpoints": "ck", "force": True, "watch": [],
               "debounce": 0.5}
    request = stored_request(json.dumps(earlier))
    assert request.policy == RunPolicy(after=[3], retries=2, retry_on="OOM", retry_delay=1.0,
                                       stop_if=["loss is nan"], checkpoints="ck")
    assert (request.force, request.debounce, request.argv) == (True, 0.5, LAUNCH["argv"])
    assert stored_request(json.dumps(request.to_dict())) == request
    with pytest.raises(UsageError, match="stored watch request: retry_dealy: unknown field"):
        stored_request(json.dumps({**LAUNCH, "retry_dealy": 1}))
