"""Nothing is lost at speed: a run printing 2,000,000 metric lines as fast as Python can has
every point stored, at the right step, its unfinished last line included (issue 12)."""

import sys

LINES = 2_000_000
WRITER = """import sys
write = sys.stdout.write
for i in range(%d - 1):
    write(f"step={i} loss={i * 2}\\n")
write("step=%d loss=-1")
""" % (LINES, LINES - 1)


def test_two_million_metric_lines_are_all_stored_at_their_steps(cli, project):
    (project / "lines.py").write_text(WRITER)
    run_id = cli.launch(sys.executable, "lines.py")
    assert cli("wait", str(run_id), timeout=300).returncode == 0
    points = cli.json("metrics", str(run_id), "--json", timeout=120)["metrics"]
    assert list(points) == ["loss"]
    loss = points["loss"]
    assert len(loss) == LINES
    assert loss[-1] == [LINES - 1, -1.0], "the last line, without a newline, counts"
    assert all(step == i and value == i * 2 for i, (step, value) in enumerate(loss[:-1]))
