"""The docker target's settings and the container it asks Docker for (no Docker needed)."""

from __future__ import annotations

import io
import tarfile

import pytest

from core import config
from core.store.blobs import BlobStore
from core.errors import ConfigError
from core.executors import option_checker
from core.executors.docker import spec
from core.executors.docker.options import parse_host


def _target(body: str):
    text = '[targets.box]\nkind = "docker"\n' + body
    return config.load_text(text, target_options=option_checker).targets["box"]


def test_defaults_and_normalised_values():
    target = _target('image = "python:3.11-slim"\nshm_size = "1GB"\nmounts = ["/d:/d:ro", "v1:/c"]\n')
    assert target.options == {"image": "python:3.11-slim", "mounts": ["/d:/d:ro", "v1:/c"],
                              "env": {}, "shm_size": 10**9, "keep": False, "init": True,
                              "pull": "missing"}
    assert target.gpus == "auto"


@pytest.mark.parametrize("gpus, expected", [('"all"', "all"), ("2", 2), ("[0, 3]", (0, 3)),
                                            ('"none"', "none")])
def test_gpus_takes_docker_device_requests(gpus, expected):
    assert _target(f'image = "x"\ngpus = {gpus}\n').gpus == expected


def test_all_and_counts_are_for_docker_targets_only():
    with pytest.raises(ConfigError, match='expected "auto", "none" or a list'):
        config.load_text('[targets.local]\ngpus = "all"\n')


@pytest.mark.parametrize("body, message", [
    ("", "targets.box.image: missing"),
    ('image = ""', "targets.box.image: expected a non-empty string"),
    ('image = "x"\nhost = "docker.example:2375"', "targets.box.host: expected a Docker engine"),
    ('image = "x"\nhost = "unix://relative.sock"', "targets.box.host: expected"),
    ('image = "x"\nmounts = ["./data:/data"]', r"targets.box.mounts\[0\]: expected"),
    ('image = "x"\nmounts = ["/data:data"]', r"targets.box.mounts\[0\]: expected"),
    ('image = "x"\nmounts = ["/a:/b:rx"]', r"targets.box.mounts\[0\]: expected"),
    ('image = "x"\nmounts = "/a:/b"', "targets.box.mounts: expected a list of strings"),
    ('image = "x"\ngpus = "most"', 'targets.box.gpus: expected "auto", "none", "all", a count'),
    ('image = "x"\ngpus = 0', 'targets.box.gpus: expected'),
    ('image = "x"\nkeep = "yes"', "targets.box.keep: expected true or false"),
    ('image = "x"\ninit = 1', "targets.box.init: expected true or false"),
    ('image = "x"\npull = "sometimes"', "targets.box.pull: expected one of"),
    ('image = "x"\nshm_size = "lots"', "targets.box.shm_size: expected a size"),
    ('image = "x"\nenv = { A = [1] }', "targets.box.env.A: expected a string"),
    ('image = "x"\nuser = 1000', "targets.box.user: expected a non-empty string"),
    ('image = "x"\nhost = "tcp://h:2375"\ncode = "mount"',
     'targets.box.code: expected "copy" for an engine on another machine'),
    ('image = "x"\nvolumes = []', "targets.box.volumes: unknown key"),
])
def test_mistakes_name_file_key_and_expectation(body, message):
    with pytest.raises(ConfigError, match=f"^runyard.toml: {message}"):
        _target(body + "\n")


@pytest.mark.parametrize("url, scheme, local, where", [
    ("unix:///var/run/docker.sock", "unix", True, "/var/run/docker.sock"),
    ("tcp://10.0.0.5:2375", "tcp", False, None),
    ("ssh://me@gpu-box", "ssh", False, "/var/run/docker.sock"),
    ("ssh://gpu-box:2222/run/user/1000/docker.sock", "ssh", False, "/run/user/1000/docker.sock"),
])
def test_engine_addresses(url, scheme, local, where):
    endpoint = parse_host(url)
    assert (endpoint.scheme, endpoint.local, endpoint.path) == (scheme, local, where)


def test_device_requests_follow_the_placed_ids_or_the_fixed_request():
    assert spec.device_requests("auto", []) == []
    assert spec.device_requests((0, 1, 2, 3), [1, 3]) == [
        {"Driver": "", "DeviceIDs": ["1", "3"], "Capabilities": [["gpu"]]}]
    assert spec.device_requests("all", []) == [
        {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
    assert spec.device_requests(2, []) == [{"Driver": "", "Count": 2, "Capabilities": [["gpu"]]}]


def test_gpus_inside_the_container_are_numbered_from_zero():
    env = spec.container_env({"CUDA_VISIBLE_DEVICES": "1,3", "A": "run"}, {"A": "target", "B": "t"},
                             [1, 3])
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert (env["A"], env["B"]) == ("run", "t")
    assert env["RUNYARD_METRICS"] == "/runyard/metrics.jsonl"
    assert "CUDA_VISIBLE_DEVICES" not in spec.container_env({}, {}, [])


def test_container_body_mounts_code_and_metrics_for_a_local_engine(tmp_path):
    body = spec.container_body(
        options={"image": "img", "mounts": ["/data:/data:ro"], "network": "none", "user": "1:1",
                 "shm_size": 1024, "init": True},
        command=["python", "train.py"], workdir="sub", env={"A": "1"}, labels={"l": "v"},
        devices=[], code_dir=tmp_path / "code", metrics_file=tmp_path / "metrics.jsonl")
    host = body["HostConfig"]
    assert body["WorkingDir"] == "/runyard/code/sub" and body["Cmd"] == ["python", "train.py"]
    assert [m["Target"] for m in host["Mounts"]] == ["/runyard/code", "/runyard/metrics.jsonl"]
    assert host["Binds"] == ["/data:/data:ro"] and host["NetworkMode"] == "none"
    assert (body["User"], host["ShmSize"], host["Init"]) == ("1:1", 1024, True)
    assert body["Env"] == ["A=1"] and host["LogConfig"]["Type"] == "local"


def test_code_tar_holds_the_snapshot_under_runyard_code(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"print('hi')\n")
    manifest = ('{"v":1,"files":[["pkg/train.py","x",12,"%s"],["link","l",0,"pkg/train.py"]]}'
                % digest).encode()
    snapshot = blobs.put_bytes(manifest)
    out = io.BytesIO()
    spec.write_code_tar(snapshot, blobs, False, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("runyard/code/pkg/train.py").read() == b"print('hi')\n"
    assert members["runyard/code/pkg/train.py"].mode == 0o755
    assert members["runyard/code/link"].issym() and members["runyard/code/link"].linkname == \
        "pkg/train.py"
    assert members["runyard/metrics.jsonl"].size == 0


def test_store_id_is_made_once(tmp_path):
    first = spec.store_id(tmp_path)
    assert len(first) == 16 and spec.store_id(tmp_path) == first


def test_log_frames_split_anywhere_give_the_same_bytes():
    import random
    import struct
    from core.executors.docker.stream import FrameReader
    payloads = [(1, b"out\n"), (2, b"err \xff\xfe\n"), (3, b"system"), (1, b""), (1, b"x" * 70000)]
    stream = b"".join(struct.pack(">BxxxL", kind, len(data)) + data for kind, data in payloads)
    expected = b"out\nerr \xff\xfe\n" + b"x" * 70000
    rng = random.Random(7)
    for _ in range(50):
        reader, got, at = FrameReader(), b"", 0
        while at < len(stream):
            step = rng.randint(1, 9000)
            got += reader.feed(stream[at:at + step])
            at += step
        assert got == expected and not reader.pending
    reader = FrameReader()
    assert reader.feed(stream[:5]) == b"" and reader.pending, "a torn header is kept, not output"
