"""Hostile output, a full disk and headless imports: the store and the terminal stay safe."""

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import kill_store_processes, require

HOSTILE = (r"printf '\033[32mgreen\033[0m \033]0;PWNED-TITLE\007\033]52;c;ZXZpbA==\007"
           r"\033[?1049h\033[2J\033[?25l\n 10%%\r100%% done\n'; printf '\377\376 bad utf8\n'")


def _read_pty(args, env, cwd) -> bytes:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 10)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(master)
    return b"".join(chunks)


def test_logs_in_a_terminal_keep_colours_and_nothing_else(cli, env, project):
    run_id = cli.launch("sh", "-c", HOSTILE)
    cli("wait", str(run_id))
    stored = Path(env["RUNYARD_HOME"], "runs", str(run_id), "output.log").read_bytes()
    assert b"\x1b]0;PWNED-TITLE" in stored           # the log keeps the bytes as written
    piped = subprocess.run([sys.executable, "-m", "tui", "logs", str(run_id)], env=env,
                           capture_output=True, check=True).stdout
    assert piped == stored, "piped output stays raw, for scripts"
    shown = _read_pty(["logs", str(run_id)], env, project)
    assert b"\x1b[32mgreen\x1b[0m" in shown
    for bad in (b"\x1b]", b"\x1b[?1049h", b"\x1b[2J", b"\x1b[?25l", b"\x07", b"PWNED", b"\r10%"):
        assert bad not in shown, bad
    assert b"100% done" in shown and "\ufffd\ufffd bad utf8".encode() in shown


def test_a_ten_megabyte_line_without_newline(cli, env):
    run_id = cli.launch("python3", "-c",
                        "import sys; sys.stdout.write('loss=1\\n' + 'x' * 10_000_000); sys.stdout.flush()")
    cli("wait", str(run_id))
    assert cli.run(run_id)["state"] == "succeeded"
    assert cli.json("metrics", str(run_id), "--json")["metrics"]["loss"] == [[0, 1.0]]
    assert len(cli("logs", str(run_id), "--tail", "1").stdout) == 10_000_000


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    require(proc.returncode == 0, f"cannot mount a small tmpfs: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_clear_error_and_loses_nothing(cli, env, project, small_disk):
    store = small_disk / "store"
    cli.env = {**env, "RUNYARD_HOME": str(store)}
    try:
        first = cli.launch("true")
        cli("wait", str(first))
        (project / "big.bin").write_bytes(os.urandom(3_000_000))
        proc = cli("launch", "--", "true", check=False)
        assert proc.returncode == 6, proc.stderr
        assert "no space left on device" in proc.stderr
        runs = cli.json("status", "--json", "--all")["runs"]
        assert [r["id"] for r in runs] == [first] and runs[0]["state"] == "succeeded"
        (project / "big.bin").unlink()
        assert cli("wait", str(cli.launch("true"))).returncode == 0
    finally:                 # this store is not the fixture's: stop its engine here
        cli("engine", "stop", check=False)
        kill_store_processes(store)


def test_headless_commands_never_import_textual_or_rich(cli, env, project):
    cli("wait", str(cli.launch("true")))
    script = (
        "import sys\n"
        "from tui.cli.main import main\n"
        "for args in (['status'], ['status', '--json'], ['show', '1'], ['logs', '1'],"
        " ['metrics', '1'], ['targets'], ['engine', 'status'], ['launch', '--force', '--', 'true'],"
        " ['wait', '2'], ['cancel', '2'], ['clone', '1']):\n"
        "    assert main(args) == 0, args\n"
        "import core.engine.server, core.engine.runner, core.executors.local\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_hostile_names_and_params_are_listed_safely(cli, env, project):
    run_id = cli.launch("true", "--tag", "\x1b]0;TITLE\x07x", opts=("--name", "evil\x1b[2Jname"))
    cli("wait", str(run_id))
    for args in (["status"], ["show", str(run_id)]):
        shown = _read_pty(args, env, project)
        assert b"\x1b]0;" not in shown and b"\x1b[2J" not in shown and b"evilname" in shown


FORGED = "FORGED-LINE"


def test_cr_lf_and_escapes_in_names_tags_params_and_reasons_cannot_forge_lines(cli, env, project):
    """A name, tag, param and a reason (a command name that is not found) holding CR, LF, an
    escape sequence, a bidi override and a byte that is not UTF-8: every command that prints
    them (launch and wait to a terminal, show, status, the tmux line, an error) shows each as
    one line, and no output line begins with what they try to forge."""
    name = f"evil\nrun 1 succeeded {FORGED}\r\x1b]0;TITLE\x07\u202e"
    command = f"no-such\n{FORGED}-cmd"
    shown = _read_pty(["launch", "--name", name, "--tag", f"t\r\n{FORGED}-tag", "--set",
                       f"lr=0.1\n{FORGED}-param", "--", command, "--lr", "{lr}"], env, project)
    run_id = int(shown.split(b"\r\n")[0])
    outputs = {"launch": shown, "wait": _read_pty(["wait", str(run_id)], env, project)}
    for args in (["show", str(run_id)], ["status"], ["status", "--format", "tmux"],
                 ["status", "--columns", "+lr", "--best"], ["compare", str(run_id)],
                 ["compare", str(run_id), "--markdown"], ["show", f"{run_id}\n{FORGED}-id"]):
        outputs[" ".join(args)] = _read_pty(args, env, project)
    run = cli.run(run_id)
    assert run["reason"] == f"command not found: {command}", "the stored value is exact"
    for what, out in outputs.items():
        lines = out.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        assert not [line for line in lines if line.lstrip().startswith(FORGED)], (what, lines)
        assert b"\x1b]0;" not in out and "\u202e".encode() not in out, what
    assert b"evil\\nrun 1 succeeded FORGED-LINE\\r" in outputs["show " + str(run_id)]
    assert b"(command not found: no-such\\nFORGED-LINE-cmd)" in outputs["wait"]
