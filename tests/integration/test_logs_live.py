"""`tui logs -f` in a real terminal (tmux) shows a redrawn line as it changes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require, wait_for

BAR = ("import sys, time, pathlib\n"
       "print('starting', flush=True)\n"
       "for i in range(1, 4):\n"
       "    sys.stdout.write(f'\\r\\x1b[32mtraining {i}/3\\x1b[0m loss={1 / i:.3f}')\n"
       "    sys.stdout.flush()\n"
       "    while not pathlib.Path(f'go{i}').exists():\n"
       "        time.sleep(0.05)\n"
       "print('\\nfinished', flush=True)\n")


@pytest.fixture
def tmux(tmp_path, env):
    require(shutil.which("tmux") is not None, "tmux is not installed (apt-get install tmux)")
    socket = tmp_path / "tmux.sock"

    def call(*args, check=True):
        proc = subprocess.run(["tmux", "-S", str(socket), *args], env=env, capture_output=True,
                              text=True, errors="replace", timeout=30)
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args}: {proc.stderr}")
        return proc.stdout

    yield call
    call("kill-server", check=False)


def test_logs_follow_shows_a_progress_bar_as_it_redraws(tmux, cli, project):
    (project / "bar.py").write_text(BAR)
    run_id = cli.launch(sys.executable, "bar.py")
    # The run's working folder is its copy of the project, in its run folder.
    workdir = Path(cli.json("show", str(run_id), "--json")["paths"]["run_dir"]) / "code"
    tmux("new-session", "-d", "-s", "logs", "-x", "60", "-y", "10", "-c", str(project),
         f"{sys.executable} -m tui logs -f {run_id}; sleep 300")

    def screen() -> list[str]:
        return [line.rstrip() for line in tmux("capture-pane", "-p", "-t", "logs").splitlines()]

    for i in range(1, 4):
        wait_for(lambda: f"training {i}/3 loss={1 / i:.3f}" in screen(), timeout=30,
                 what=f"redraw {i} on screen")
        lines = [line for line in screen() if line]
        assert lines == ["starting", f"training {i}/3 loss={1 / i:.3f}"], lines
        (workdir / f"go{i}").write_text("")
    wait_for(lambda: "finished" in screen(), timeout=30, what="the end of the run")
    assert [line for line in screen() if line] == ["starting", "training 3/3 loss=0.333",
                                                   "finished"]
