"""The real `tui` in a real terminal (tmux) at 80x24 and 160x48: the results table ranked in
two keys, the footer, `?` scrolling to its last line, the compare view with its chart, and
NO_COLOR sending no colour code at all.
"""

import re
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.tui.sweep_store import BY_LAST_VAL_ACC, sweep_store

COLOUR = re.compile(r"\x1b\[([0-9;]*)m")


def _screen(tmux, colours: bool = False) -> str:
    return tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", "app")


def _until(tmux, predicate, what: str) -> str:
    try:
        wait_for(lambda: predicate(_screen(tmux)), timeout=30, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{_screen(tmux)}") from None
    return _screen(tmux)


def _keys(tmux, *keys: str) -> None:
    for key in keys:
        tmux("send-keys", "-t", "app", key)


def _start(tmux, env, project, size, extra: str = "") -> None:
    sweep_store(Path(env["RUNYARD_HOME"]), running=False)
    width, height = size
    conf = project.parent / "tmux.conf"
    conf.write_text('set -g default-terminal "tmux-256color"\nset -g remain-on-exit on\n')
    tmux("-f", str(conf), "new-session", "-d", "-s", "app", "-x", str(width), "-y",
         str(height), "-c", str(project), f"{extra}{sys.executable} -m tui")
    _until(tmux, lambda s: "val_acc" in s and "run 7 eval" in s and "quit" in s,
           "the run list, its newest run selected")


def _plot_rows(screen: str) -> int:
    lines = screen.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return bottom - top - 1


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_rank_compare_help_and_footer_in_a_real_terminal(tmux, env, project, size):
    width, height = size
    _start(tmux, env, project, size)
    footer = _screen(tmux).splitlines()[-1]
    assert footer.rstrip().endswith("? keys  q quit") or footer.rstrip().endswith("? keys q quit")
    assert len(footer.rstrip()) <= width and "c clone" in footer
    _keys(tmux, "s")
    screen = _until(tmux, lambda s: "sort by" in s, "the sort list")
    hotkey = next(m.group(1) for line in screen.splitlines()
                  if (m := re.search(r"\s([1-9a-z]) val_acc\s", line)))
    _keys(tmux, hotkey)                                            # two keys in all
    screen = _until(tmux, lambda s: "val_acc↓" in s and "sort by" not in s
                    and "run 3 train" in s, "ranked, the best run (3) selected")
    rows = [line for line in screen.splitlines() if re.match(r"^.[✓✗■▶] +\d+ ", line)]
    ids = [int(line.split()[1]) for line in rows]
    assert ids[:6] == BY_LAST_VAL_ACC, screen
    assert "0.91*" in rows[0] and "*" not in "".join(rows[1:6])
    _keys(tmux, "?")
    _until(tmux, lambda s: "remap any of them" in s, "the help")
    _keys(tmux, "End")
    _until(tmux, lambda s: "dialog_cancel" in s, "the help's last line")
    _keys(tmux, "Escape")
    _until(tmux, lambda s: "remap any of them" not in s, "the help closed")
    _keys(tmux, "Space", "Space", "Space")
    _until(tmux, lambda s: "● 3 marked" in s, "three runs marked")
    _keys(tmux, "C")
    screen = _until(tmux, lambda s: "compare 3 runs: 3, 4, 5" in s and "└" in s, "compare")
    assert "val_acc:best" in screen and "0.900 ± 0.014" in screen
    assert "3 train" in screen and "★ best 0.91 (run 3, step 6)" in screen
    assert _plot_rows(screen) >= (8 if height == 24 else 20), screen
    frame = next(line for line in screen.splitlines() if "┌" in line)
    assert len(frame.rstrip()) >= width - 2, "the chart spans the screen"
    footer = screen.splitlines()[-1]
    assert "L log" in footer and "W smooth" in footer and len(footer.rstrip()) <= width
    _keys(tmux, "q")
    _until(tmux, lambda s: "compare 3 runs" not in s and "val_acc↓" in s, "back on the list")
    _keys(tmux, "q")
    wait_for(lambda: tmux("display", "-p", "-t", "app", "#{pane_dead}").strip() == "1",
             timeout=30, what="the app to exit")


def test_no_color_sends_no_colour_codes(tmux, env, project):
    _start(tmux, env, project, (80, 24), extra="NO_COLOR=1 ")
    _keys(tmux, "Space", "Space")
    _until(tmux, lambda s: "● 2 marked" in s, "two runs marked")
    _keys(tmux, "M")
    screen = _until(tmux, lambda s: "└" in s and "★ best" in s, "the chart")
    assert "• " in screen and "x " in screen, "markers tell the curves apart"
    coloured = _screen(tmux, colours=True)
    codes = {code for match in COLOUR.finditer(coloured) for code in match.group(1).split(";")}
    colours = {c for c in codes if re.fullmatch(r"3[0-8]|4[0-8]|9[0-7]|10[0-7]", c)}
    assert not colours, f"colour codes under NO_COLOR: {sorted(colours)}"
    assert "7" in codes, "the cursor shows as reverse video, not as a colour"
