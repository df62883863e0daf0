"""`tui files` and `tui pull` of local runs through the real CLI and engine: hostile file names,
bad input, and `tui rm` deleting the copies pulls made (but not one the user changed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.integration.files_helpers import HOSTILE


def test_hostile_names_are_shown_plain_counted_or_left_alone(cli, project, env):
    (project / "hostile.py").write_text(HOSTILE)
    run_id = cli.launch("python3", "hostile.py")
    cli.wait_state(run_id, "succeeded")
    shown = cli("files", str(run_id))
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "out/title.txt" in shown.stdout and "out/red.txt" in shown.stdout
    assert "2 file(s) not listed" in shown.stderr, shown.stderr
    listed = {f["path"] for f in cli.json("files", str(run_id), "--json")["files"]}
    assert listed == {"out/title\x1b]0;pwned\x07.txt", "out/red\x1b[31m.txt", "out/-C"}, \
        "the symlink and the fifo are not regular files; the two odd names are counted"
    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["counts"] == {"fetched": 3} and not pulled["problems"]
    out = Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out" / "out"
    assert (out / "-C").read_text() == "dash\n"
    assert not (out / "passwd-link").exists()
    text = cli("pull", str(run_id))
    assert "\x1b" not in text.stdout + text.stderr


def test_bad_input_gets_one_line_and_a_hint(cli, project):
    done = cli.launch("sh", "-c", "echo 1 > a.csv")
    cli.wait_state(done, "succeeded")
    for args, code, said in (
            (("pull", str(done), "*.parquet"), 2, "no file of run"),
            (("pull", "999"), 3, "no run with id 999"),
            (("files", "999"), 3, "no run with id 999"),
            (("launch", "--outputs", "../up.csv", "--", "true"), 2, "--outputs '../up.csv'"),
            (("launch", "--outputs", "/etc/x", "--", "true"), 2, "--outputs '/etc/x'"),
            (("pull", str(done), "--to", "/proc/runyard-cannot"), 6, "cannot create")):
        proc = cli(*args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines[0].startswith("error: ") and said in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    blocker = cli.launch("sleep", "30")
    waiting = cli.launch("true", opts=("--after", str(blocker)))
    early = cli("files", str(waiting), check=False)
    assert early.returncode == 2 and "has not started yet" in early.stderr
    assert "hint: " in early.stderr
    cli("cancel", str(blocker), str(waiting))


def test_rm_deletes_pulled_copies_but_not_one_changed_since(cli, project, tmp_path):
    run_id = cli.launch("sh", "-c", "mkdir -p r && echo aaa > r/a.csv && echo bbb > r/b.csv")
    cli.wait_state(run_id, "succeeded")
    dest = tmp_path / "results"
    cli("pull", str(run_id), "--to", str(dest))
    cli("pull", str(run_id))
    (dest / "r" / "b.csv").write_text("edited by me\n")
    (dest / "mine.txt").write_text("not runyard's\n")
    removed = cli("rm", str(run_id), "--json")
    assert json.loads(removed.stdout)["removed"][0]["id"] == run_id
    assert not (dest / "r" / "a.csv").exists()
    assert (dest / "r" / "b.csv").read_text() == "edited by me\n"
    assert "was changed after it was pulled; it stays" in removed.stderr
    assert (dest / "mine.txt").exists() and os.path.isdir(dest / "r")
