"""The real `tui` in a real terminal (tmux), with a run whose output attacks the terminal.

The run writes a title change, a clipboard write (OSC 52), the alternate screen, cursor
moves, carriage-return progress and invalid UTF-8. The pane's title must not change, no
tmux paste buffer may appear, and the screen must stay the app's own. `q` quits the app
and the run goes on.
"""

import sys

import pytest

from tests.helpers import wait_for

HOSTILE = (r"printf '\033[32mgreen\033[0m plain \033]0;PWNED-TITLE\007\033]52;c;ZXZpbA==\007"
           r"\033[?1049h\033[2J\033[?25l\033[10;10HMOVED\033[?1000h\n 10%%\r 50%%\r100%% done\n';"
           r" printf '\377\376 bad utf8\n'; printf 'loss=0.5\n'; sleep 300")


def _screen(tmux) -> str:
    return tmux("capture-pane", "-p", "-t", "app")


def _until(tmux, predicate, what: str) -> None:
    try:
        wait_for(lambda: predicate(_screen(tmux)), timeout=30, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{_screen(tmux)}") from None


@pytest.mark.parametrize("term", ["tmux-256color", "screen-256color"])
def test_the_app_in_tmux_with_hostile_output(tmux, cli, env, project, tmp_path, term):
    run_id = cli.launch("sh", "-c", HOSTILE)
    wait_for(lambda: "loss=0.5" in cli("logs", str(run_id)).stdout, what="the hostile output")
    conf = tmp_path / "tmux.conf"
    conf.write_text(f'set -g default-terminal "{term}"\nset -g set-clipboard on\n'
                    "set -g remain-on-exit on\nset -g allow-rename on\n")
    tmux("-f", str(conf), "new-session", "-d", "-s", "app", "-x", "80", "-y", "24",
         "-c", str(project), f"{sys.executable} -m tui")
    tmux("select-pane", "-t", "app", "-T", "before-runyard")
    _until(tmux, lambda s: "runyard" in s and f"{run_id} printf" in s, "the app's run list")
    assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "before-runyard"
    tmux("send-keys", "-t", "app", "Enter")
    _until(tmux, lambda s: "bad utf8" in s and "100% done" in s and "quit" in s.splitlines()[-1],
           "the log pane")
    screen = _screen(tmux)
    lines = screen.splitlines()
    assert lines[0].startswith(" runyard") and "quit" in lines[-1], screen
    assert "green plain" in screen and "\ufffd\ufffd bad utf8" in screen
    assert "MOVED" in screen and "PWNED" not in screen and " 10%" not in screen
    assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "before-runyard"
    assert tmux("list-buffers") == "", "no clipboard write reached tmux"
    for key in ("Escape", "j", "k", "Tab", "Tab", "Tab", "question_mark"):
        tmux("send-keys", "-t", "app", "?" if key == "question_mark" else key)
    _until(tmux, lambda s: "remap any of them" in s, "the help screen")
    tmux("send-keys", "-t", "app", "Escape")
    _until(tmux, lambda s: "remap any of them" not in s, "the help closed")
    tmux("send-keys", "-t", "app", "q")
    wait_for(lambda: tmux("display", "-p", "-t", "app", "#{pane_dead}").strip() == "1",
             timeout=30, what="the app to exit")
    after = tmux("capture-pane", "-p", "-S", "-100", "-t", "app")      # with the history
    assert "runyard: 1 run(s) keep running" in after
    assert tmux("display", "-p", "-t", "app", "#{pane_title}").strip() == "before-runyard"
    assert cli.run(run_id)["state"] == "running"
    cli("cancel", str(run_id))


def test_status_line_for_the_tmux_status_bar(cli):
    assert cli("status", "--format", "tmux").stdout == "runyard: no runs\n"
    ok = cli.launch("true")
    bad = cli.launch("sh", "-c", "exit 4", opts=("--name", "a-rather-long-name-for-a-run"))
    cli("wait", str(ok), str(bad), check=False)
    busy = cli.launch("sleep", "60")
    cli.wait_state(busy, "running")
    line = cli("status", "--format", "tmux").stdout
    assert line == f"▶1 ✗1 ✓1 | last failure: #{bad} a-rather-long-name-f\n"
    assert len(line) < 60 and line.count("\n") == 1
    cli("cancel", str(busy))
