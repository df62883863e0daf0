"""The pieces of the SSH layer that need no box: sh quoting and scripts (run by a real local
sh), poll-reply framing, byte-offset appends, host parsing and option checks."""

import os
import subprocess
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.remote import scripts
from core.remote.mirror import Watch, _apply, parse
from core.remote.settings import SshSettings, check_ssh_options, check_work_dir, split_host
from tests.helpers import wait_for

HOSTILE = ["plain", "with space", "it's", 'dq"', "$HOME", "`id`", "a\nb", "-n", "*", "\\", ""]


def _sh(script: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, cwd=cwd,
                          timeout=30)


@pytest.mark.parametrize("text", HOSTILE)
def test_quote_gives_sh_exactly_the_text(text):
    assert _sh(f"printf %s {scripts.quote(text)}").stdout.decode() == text


def test_work_expression_uses_the_box_users_home():
    out = _sh(f"HOME=/home/me; echo {scripts.work_expression('~/.runyard')}").stdout
    assert out == b"/home/me/.runyard\n"
    assert _sh(f"echo {scripts.work_expression('/abs/w')}").stdout == b"/abs/w\n"


def test_poll_reports_states_sizes_and_new_bytes(tmp_path):
    ended = tmp_path / "runs" / "s" / "1"
    ended.mkdir(parents=True)
    (ended / "output.log").write_bytes(b"one\ntwo\n\x00\xff three\n")
    (ended / "exit_status").write_text("3\tcommand said no\n")
    live = tmp_path / "runs" / "s" / "2"
    live.mkdir(parents=True)
    (live / "output.log").write_bytes(b"x" * 10)
    gone = tmp_path / "runs" / "s" / "3"
    gone.mkdir(parents=True)
    me = os.getpid()
    runs = [("runs/s/1", None, None, [("output.log", 4), ("metrics.jsonl", 0)]),
            ("runs/s/2", me, None, [("output.log", 0)]),
            ("runs/s/3", 999_999_999, None, [("output.log", 0)])]
    reply = parse(_sh(scripts.poll(str(tmp_path), "tok", runs, max_chunk=6)).stdout, "tok")
    assert reply.complete
    assert reply.states[0][0] == "ended" and reply.states[0][2] == "3\tcommand said no"
    assert reply.states[0][1] > 0, "the status file's time"
    assert reply.states[1][0] == "running" and reply.states[2][0] == "gone"
    assert reply.sizes == {(0, 0): 17, (1, 0): 10}
    assert reply.chunks == [(0, 0, 4, b"two\n\x00\xff"), (1, 0, 0, b"xxxxxx")]


def test_a_torn_or_cut_reply_writes_nothing_unverified(tmp_path):
    local = tmp_path / "out"
    local.write_bytes(b"abc")
    watch = Watch.__new__(Watch)
    watch.files = [("output.log", local)]
    good = b"S 0 running\nZ 0 0 9\nD 0 0 3 3\ndef\nEt\nEND t\n"
    reply = parse(good, "t")
    assert reply.complete and reply.chunks == [(0, 0, 3, b"def")]
    torn = b"S 0 running\nD 0 0 3 6\ndef\nEt\n"          # says 6 bytes, marker comes early
    assert parse(torn, "t").chunks == [] and not parse(torn, "t").complete
    assert not parse(b"S 0 running\nZ 0 0 9\n", "t").complete, "no END: incomplete"
    _apply([watch], reply)
    _apply([watch], reply)                                # the same chunk twice: no repeat
    assert local.read_bytes() == b"abcdef"
    overlap = parse(b"D 0 0 4 4\nefgh\nEt\nEND t\n", "t")  # starts inside what we have
    _apply([watch], overlap)
    assert local.read_bytes() == b"abcdefgh"
    gap = parse(b"D 0 0 20 2\nzz\nEt\nEND t\n", "t")       # would leave a hole: skipped
    _apply([watch], gap)
    assert local.read_bytes() == b"abcdefgh"


def test_signal_tree_finds_descendants_that_left_the_group(tmp_path):
    run_dir = tmp_path / "runs" / "s" / "1"
    run_dir.mkdir(parents=True)
    leader = subprocess.Popen(["sh", "-c", "setsid sleep 301 & sleep 302 & wait"],
                              start_new_session=True)
    try:
        # Both sleeps must exist before the tree is walked (on a busy machine the shell
        # can still be forking them).
        children = f"/proc/{leader.pid}/task/{leader.pid}/children"
        wait_for(lambda: len(open(children).read().split()) == 2, what="the two sleeps")
        script = scripts.signal_tree(str(tmp_path), "runs/s/1", leader.pid, "TERM")
        out = _sh(script).stdout.decode().split()
        assert out[0] == "SENT" and int(out[1]) >= 4, out   # group + sh + 2 sleeps
        assert leader.wait(timeout=10) != 0
    finally:
        subprocess.run(["sh", "-c", f"kill -9 -{leader.pid} 2>/dev/null"])


def test_hosts_in_full_and_aliases():
    assert split_host("box1") == (None, "box1", None)
    assert split_host("me@10.0.0.5:2222") == ("me", "10.0.0.5", 2222)
    assert split_host("[::1]:22") == (None, "::1", 22)
    settings = SshSettings.from_options({"host": "me@box:2200", "port": 2201})
    assert (settings.user, settings.host, settings.port) == ("me", "box", 2201)
    assert settings.ssh_command == "ssh -p 2201 me@box"
    for bad in ("a b", "@box", "box:", "me@"):
        with pytest.raises(ValueError):
            split_host(bad)


def test_option_checks_name_the_key(tmp_path):
    path = tmp_path / "runyard.toml"
    key = tmp_path / "key"
    key.write_text("k")
    out = check_ssh_options(path, "targets.b", {"host": " box ", "identity_file": "key",
                                                "keepalive": 5})
    assert out["host"] == "box" and out["identity_file"] == [str(key)]
    with pytest.raises(ConfigError, match=r"targets\.b\.identity_file: expected an existing"):
        check_ssh_options(path, "targets.b", {"host": "box", "identity_file": ["nope"]})
    with pytest.raises(ConfigError, match=r"targets\.b\.user: expected a login name"):
        check_ssh_options(path, "targets.b", {"host": "box", "user": "a b"})
    assert check_work_dir(path, "w", "~/runs/") == "~/runs"
    for bad in ("runs", "~/../x", "/a b", "$HOME/x", "~other/x"):
        with pytest.raises(ConfigError, match="expected a remote folder"):
            check_work_dir(path, "w", bad)


async def test_a_config_that_turns_host_key_checks_off_is_refused(tmp_path):
    from core.remote.box import Box
    from core.remote.failures import BoxError
    config = tmp_path / "ssh_config"
    config.write_text("Host lax\n  HostName 127.0.0.1\n  UserKnownHostsFile none\n")
    box = Box(SshSettings(host="lax", ssh_config=str(config)), "~/.runyard")
    with pytest.raises(BoxError, match="turns host key checking off"):
        await box.connect()
    assert box.state == "error"


def test_launch_never_starts_a_run_twice(tmp_path):
    """A launch whose reply was lost is sent again: the run already there is adopted."""
    (tmp_path / "bin").mkdir()
    wrapper = scripts.installed_name(scripts.WRAPPER)
    (tmp_path / "bin" / wrapper).write_bytes(scripts.WRAPPER.read_bytes())
    script = scripts.launch(str(tmp_path), "runs/s/1-1", None, "", [], {"A": "b"},
                            ["sh", "-c", 'echo "started $A"; exec sleep 30'], wrapper)
    first = _sh(script).stdout.decode().split()
    assert first[0] == "PID" and first[1].isdigit() and first[2].isdigit(), first
    try:
        again = _sh(script).stdout.decode().split()
        assert again == first, "the same process, not a second one"
        log = tmp_path / "runs" / "s" / "1-1" / "output.log"
        wait_for(log.read_text, timeout=5, what="the run's first line")
        assert log.read_text() == "started b\n"
    finally:
        subprocess.run(["sh", "-c", f"kill -9 -{first[1]} 2>/dev/null"])
