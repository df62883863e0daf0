"""No way in for other users: the store is private whatever the umask or the mode of a folder
that already existed, the socket is only ever in a folder of this user's, and the engine
refuses a connection from another uid. "Another user" is the real `nobody`, via runuser."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from core.paths import private_folder_problem
from tests.helpers import require

NOBODY = 65534


@pytest.fixture
def open_parent():
    """A folder every user can enter (pytest's own tmp folder is private to root), so only
    runyard's own modes stand between another user and the store."""
    require(os.geteuid() == 0 and shutil.which("runuser") and os.path.exists(SYSTEM_PYTHON),
            "needs root, runuser and /usr/bin/python3")
    folder = Path(tempfile.mkdtemp(prefix="runyard-privacy-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


# Debian's own Python: every user can run it (this venv's may sit under root's home).
SYSTEM_PYTHON = "/usr/bin/python3"


def _as_nobody(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, "-c", code, *args],
                          capture_output=True, text=True, timeout=60)


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(os.lstat(path).st_mode))


def test_the_store_is_private_under_umask_000(cli, env, project, open_parent, umask_000):
    home = open_parent / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    run_id = cli.launch("sh", "-c", "echo secret-output; touch made-by-the-run",
                        opts=("--env", "API_TOKEN=hunter2"))
    cli("wait", str(run_id))
    run_dir = home / "runs" / str(run_id)
    modes = {name: _mode(home / name) for name in
             ("", "runyard.db", "runyard.db-wal", "runyard.db-shm", "engine.log", "engine.json",
              "engine.lock", "engine.spawn.lock", "engine.sock", "blobs", "runs")}
    modes.update({f"runs/{run_id}/{name}": _mode(run_dir / name) for name in
                  ("", "output.log", "run.json", "exit_status", "code")})
    print("modes under umask 000:", " ".join(f"{k or '.'}={v}" for k, v in modes.items()))
    for name, mode in modes.items():
        is_folder = (home / name).is_dir() and not name.endswith(".sock")
        assert mode == ("0o700" if is_folder else "0o600") or \
            (name.endswith("code") and mode == "0o700"), (name, mode)
    assert stat.S_ISSOCK(os.lstat(home / "engine.sock").st_mode)
    # A run's own files keep the shell's umask (its outputs are the user's business).
    assert _mode(run_dir / "code" / "made-by-the-run") == "0o666"
    cli("engine", "stop")


def test_a_store_folder_that_exists_with_loose_modes_is_made_private(cli, env, project,
                                                                    open_parent):
    """`mkdir ~/store; export RUNYARD_HOME=~/store` under umask 022 gives 0755: the engine takes
    it back, with the files an older runyard left readable, before anyone reads a secret."""
    home = open_parent / "store"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    (home / "runs").mkdir()
    (home / "runs").chmod(0o777)
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    run_id = cli.launch("true", opts=("--env", "API_TOKEN=hunter2"))
    cli("wait", str(run_id))
    assert (_mode(home), _mode(home / "runs"), _mode(home / "runyard.db")) == \
        ("0o700", "0o700", "0o600")
    proc = _as_nobody("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                      "print(c.execute('select env from runs').fetchall())",
                      str(home / "runyard.db"))
    assert proc.returncode != 0 and "hunter2" not in proc.stdout, proc.stdout
    cli("engine", "stop")


def test_another_user_can_neither_read_the_store_nor_reach_the_engine(cli, env, project,
                                                                      open_parent, umask_000):
    home = open_parent / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    cli("wait", str(cli.launch("sh", "-c", "echo secret-output")))
    read = _as_nobody("import sys; print(open(sys.argv[1]).read())",
                      str(home / "runs" / "1" / "output.log"))
    assert read.returncode != 0 and "Permission denied" in read.stderr
    reach = _as_nobody("import socket, sys; s = socket.socket(socket.AF_UNIX);"
                       "s.connect(sys.argv[1]); s.sendall(b'{\"op\": \"ping\"}\\n');"
                       "print(s.recv(4096))", str(home / "engine.sock"))
    assert reach.returncode != 0 and "Permission denied" in reach.stderr
    cli("engine", "stop")


def test_the_engine_refuses_a_connection_from_another_user(cli, env, project, open_parent):
    """Even through a socket someone made reachable by mistake, another uid gets a refusal,
    not an answer (SO_PEERCRED)."""
    home = open_parent / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    cli("wait", str(cli.launch("true")))
    home.chmod(0o711)
    (home / "engine.sock").chmod(0o666)
    reach = _as_nobody("import socket, sys; s = socket.socket(socket.AF_UNIX);"
                       "s.connect(sys.argv[1]); print(s.makefile('rb').readline().decode());"
                       "s.sendall(b'{\"op\": \"ping\"}\\n')", str(home / "engine.sock"))
    assert "Permission denied" not in reach.stderr, reach.stderr
    assert '"ok":false' in reach.stdout and "serves uid 0 only" in reach.stdout, reach.stdout
    assert '"pid"' not in reach.stdout
    assert cli.json("engine", "status", "--json")["engine"]["running"], "our own still works"
    cli("engine", "stop")


def test_a_long_store_path_never_puts_the_socket_in_another_users_folder(cli, env, project,
                                                                         open_parent):
    """The store path is too long for a socket: XDG_RUNTIME_DIR names a folder that belongs
    to someone else, so the engine does not use it (it uses /tmp/runyard-UID, its own)."""
    theirs = open_parent / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    home = open_parent / ("deep-" * 25) / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home), "XDG_RUNTIME_DIR": str(theirs)}
    cli("wait", str(cli.launch("true")))
    socket_path = Path(cli.json("engine", "status", "--json")["engine"]["socket"])
    assert socket_path.parent == Path(f"/tmp/runyard-{os.getuid()}"), socket_path
    assert private_folder_problem(socket_path.parent, create=False) is None
    assert not list(theirs.iterdir())
    cli("engine", "stop")


def test_what_makes_a_folder_unfit_for_the_socket(tmp_path):
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / "link"
    link.symlink_to(ours)
    made = tmp_path / "made"
    assert private_folder_problem(ours, create=False) is None
    assert "can be entered by other users (mode 777)" in private_folder_problem(loose, False)
    assert f"belongs to uid {NOBODY}" in private_folder_problem(theirs, False)
    assert "is not a folder (a link" in private_folder_problem(link, False)
    assert private_folder_problem(made, create=True) is None and _mode(made) == "0o700"
