"""A typo in a request or a workflow file is refused by the real engine and CLI: named, with a
hint, nothing recorded, and the engine keeps serving."""

import json
import socket
from pathlib import Path

import pytest

from core.paths import StorePaths
from tests.helpers import store_fingerprint


def _raw_request(env, line: bytes) -> dict:
    """Send one line to the engine's socket as any program could, and read its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(StorePaths(Path(env["RUNYARD_HOME"])).socket))
        sock.sendall(line + b"\n")
        return json.loads(sock.makefile("rb").readline())


@pytest.fixture
def engine(cli, env):
    cli("wait", str(cli.launch("true")))
    return store_fingerprint(env)


def _launch(project, **extra) -> bytes:
    return json.dumps({"op": "launch", "cwd": str(project), "env": {}, "argv": ["true"],
                       **extra}).encode()


@pytest.mark.parametrize("extra, message, hint", [
    ({"retry_dealy": 3}, "launch request: retry_dealy: unknown field",
     "did you mean policy.retry_delay?"),
    ({"policy": {"retires": 2}}, "launch request: policy: retires: unknown field",
     "did you mean retries?"),
    ({"gpus": "2"}, "launch request: gpus: expected an integer or null, got '2'", "gpus is"),
    ({"policy": {"after": ["last", 1.5]}}, "launch request: policy: after: expected a list of "
                                           "run ids", "after is"),
])
def test_the_engine_refuses_a_raw_launch_line_with_a_typo_or_a_wrong_type(
        engine, env, project, cli, extra, message, hint):
    reply = _raw_request(env, _launch(project, **extra))
    assert reply["ok"] is False
    error = reply["error"]
    assert (error["type"], error["code"]) == ("UsageError", 2)
    assert error["message"].startswith(message)
    assert hint in error["hint"]
    assert _raw_request(env, b'{"op": "ping"}')["ok"] is True, "the engine keeps serving"
    assert store_fingerprint(env) == engine, "nothing recorded"


@pytest.mark.parametrize("line, message", [
    (b'{"op": "cancel", "ids": [1], "all": true}', "cancel request: all: unknown field"),
    (b'{"op": "wait", "id": [1]}', "wait request: id: unknown field"),
    (b'{"op": "remove", "ids": "1"}', "remove request: ids: expected a list of run ids"),
    (b'{"op": "clone", "parent": 1, "cwd": "/", "env": {}, "stop_iff": []}',
     "clone request: stop_iff: unknown field"),
    (b'{"op": "plan", "lanch": {}}', "plan request: lanch: unknown field"),
    (b'{"op": "stop", "now": true}', "stop request: now: unknown field"),
    (b'{"op": "launhc"}', "unknown request 'launhc'"),
    (b'[1, 2]', "a request must be a JSON object"),
    (b'{"op": "ping"', "a request must be one line of JSON"),
])
def test_the_engine_refuses_unknown_fields_of_every_kind_of_request(engine, env, line,
                                                                   message):
    reply = _raw_request(env, line)
    assert reply["ok"] is False and reply["error"]["message"].startswith(message)
    assert reply["error"]["hint"]
    assert _raw_request(env, b'{"op": "status"}')["ok"] is True
    assert store_fingerprint(env) == engine


def test_a_typo_in_a_workflow_file_is_refused_naming_file_step_and_key(cli, env, project,
                                                                      engine):
    flow = project / "flow.toml"
    flow.write_text('[[step]]\nname = "prep"\ncommand = "true"\n'
                    '[[step]]\nname = "train"\ncommand = "true"\nafter = ["prep"]\n'
                    'retries = 2\nretry_dealy = 3\n')
    proc = cli("launch", "--file", "flow.toml", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"{flow}: step[1] (train): retry_dealy: unknown key" in proc.stderr
    assert "hint: did you mean retry_delay?" in proc.stderr
    assert store_fingerprint(env) == engine
    flow.write_text(flow.read_text().replace("retry_dealy", "retry_delay"))
    ids = [int(i) for i in cli("launch", "--file", "flow.toml").stdout.split()]
    train = cli.run(ids[1])
    assert (train["retries"], train["depends_on"]) == (2, [ids[0]])
