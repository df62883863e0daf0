"""A run's files on a real OpenSSH box: listed there, pulled byte-identical, a second pull sends
nothing, a pull cut off on a slow link resumes, and a box that is down loses nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.daemons import sshd
from tests.helpers import kill_store_processes, require, wait_for
from tests.integration.files_helpers import WROTE_BY_WRITER as WROTE
from tests.integration.files_helpers import HOSTILE, add_writer, by_path, same_files


def _run(cli, target: str, size: int, *opts: str) -> int:
    run_id = cli.launch("python3", "write_outputs.py", str(size),
                        opts=("--target", target, "--checkpoints", "ckpt", *opts))
    cli.wait_state(run_id, "succeeded", timeout=90)
    return run_id


def test_files_lists_what_the_run_wrote_on_the_box_and_pull_brings_it_here(lab, cli, project):
    add_writer(project)
    lab.configure(lab.target("box1"))
    run_id = _run(cli, "box1", 3_000_000, "--outputs", "results/*.csv")
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
    wait_for(lambda: (out / "results" / "metrics.csv").exists(), timeout=60,
             what="the declared output, pulled when the run ended")
    listing = cli.json("files", str(run_id), "--json")
    files = by_path(listing)
    assert listing["schema"] == 1 and listing["stale"] is None
    assert sorted(files) == sorted(WROTE)
    assert files["model.bin"]["status"] == "new" and files["model.bin"]["size"] == 3_000_000
    assert files["notes.txt"]["status"] == "changed"
    assert files["ckpt/epoch2.json"]["checkpoint"] and not files["model.bin"]["checkpoint"]
    everything = by_path(cli.json("files", str(run_id), "--all", "--json"))
    assert everything["train.py"]["status"] == "unchanged"

    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["to"] == str(out) and pulled["counts"] == {"fetched": 4, "unchanged": 1}
    remote = lab.remote_run_dir(lab.box1, run_id) / "code"
    same_files(out, remote, WROTE)
    assert pulled["content_bytes"] == sum((remote / n).stat().st_size for n in WROTE
                                          if n != "results/metrics.csv")
    assert (out / "model.bin").stat().st_mtime == int((remote / "model.bin").stat().st_mtime)

    again = cli.json("pull", str(run_id), "--json")
    assert again["content_bytes"] == 0 and again["counts"] == {"unchanged": 5}

    csv = cli("pull", str(run_id), "*.csv", "--to", "picked")
    assert csv.stdout == f"{project / 'picked' / 'results' / 'metrics.csv'}\n"
    assert "0 B sent" in csv.stderr, "the copy pulled before is this machine's: nothing travels"
    shown = cli.json("show", str(run_id), "--json")
    assert [(p["to"], p["files"]) for p in shown["pulls"]] == [(str(out), 5),
                                                               (str(project / "picked"), 1)]
    assert "pull" in shown["pulls"][0]["why"].split(",")
    text = cli("show", str(run_id)).stdout
    assert "outputs    results/*.csv" in text and "pulled     5 files" in text


def test_after_an_engine_restart_and_with_the_box_down_nothing_is_lost(lab, cli, project):
    add_writer(project)
    lab.configure(lab.target("box1", connect_timeout=2, command_timeout=5))
    run_id = _run(cli, "box1", 100_000)
    first = cli.json("files", str(run_id), "--json")
    cli("engine", "stop")
    assert cli.json("files", str(run_id), "--json")["files"] == first["files"]

    lab.box1.stop()
    stale = cli("files", str(run_id))
    assert stale.returncode == 0 and "model.bin" in stale.stdout
    assert "as last seen" in stale.stderr and "box1" in stale.stderr
    down = cli("pull", str(run_id), check=False)
    assert down.returncode == 5, down.stderr
    assert down.stderr.startswith("error: ") and "box1" in down.stderr
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
    assert not (out / "model.bin").exists()

    lab.box1.start()
    back = cli.json("pull", str(run_id), "--json")
    assert back["counts"] == {"fetched": 5}
    same_files(out, lab.remote_run_dir(lab.box1, run_id) / "code", WROTE)


def test_a_pull_cut_off_on_a_slow_link_resumes_where_it_stopped(lab, cli, project):
    """The box sits behind a real, rate-limited link (a network namespace, `tc` shaping its
    side to 40 Mbit/s); the link goes down mid-pull, and comes back."""
    require(sshd.Namespace.possible(), "network namespaces (ip netns) are needed")
    add_writer(project)
    namespace = sshd.Namespace().create()
    subprocess.run(["ip", "netns", "exec", namespace.name, "tc", "qdisc", "add", "dev",
                    namespace.box_if, "root", "tbf", "rate", "40mbit", "burst", "64kb",
                    "latency", "400ms"], check=True, capture_output=True)
    try:
        box = lab.add_box("slow", address=namespace.box_address, netns=namespace.name,
                          path_env="/usr/bin:/bin")
        lab.configure(lab.target("slow", keepalive=1, connect_timeout=3, command_timeout=6))
        size = 30_000_000
        run_id = _run(cli, "slow", size)
        partial = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out" / \
            ".runyard-partial"
        pulling = subprocess.Popen([sys.executable, "-m", "tui", "pull", str(run_id), "--json"],
                                   env=cli.env, cwd=project, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        wait_for(lambda: _bytes_under(partial) > 4_000_000, timeout=60,
                 what="a few MB of the model to arrive")
        namespace.link(up=False)
        _out, err = pulling.communicate(timeout=60)
        assert pulling.returncode == 5, err
        kept = _bytes_under(partial)
        assert 4_000_000 < kept < size, "what arrived is kept for the next pull"

        namespace.link(up=True)
        resumed = cli.json("pull", str(run_id), "--json", timeout=120)
        fetched = [f for f in resumed["files"] if f["how"] == "fetched"]
        assert "model.bin" in {f["path"] for f in fetched}
        assert {f["how"] for f in resumed["files"]} <= {"fetched", "unchanged"}
        assert len(resumed["files"]) == 5, "files that arrived before the cut stay arrived"
        assert resumed["content_bytes"] == sum(f["size"] for f in fetched) - kept, \
            "only the missing bytes travelled"
        out = partial.parent
        same_files(out, lab.remote_run_dir(box, run_id) / "code", WROTE)
        assert not partial.exists()
    finally:
        slow = lab.boxes.pop("slow", None)
        if slow is not None:
            slow.stop()
            kill_store_processes(slow.work)
        namespace.delete()


def _bytes_under(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.iterdir())
    except OSError:
        return 0


def test_hostile_names_on_a_box_are_listed_plain_counted_or_left_alone(lab, cli, project):
    (project / "hostile.py").write_text(HOSTILE)
    lab.configure(lab.target("box1"))
    run_id = cli.launch("python3", "hostile.py", opts=("--target", "box1"))
    cli.wait_state(run_id, "succeeded", timeout=60)
    shown = cli("files", str(run_id))
    assert "\x1b" not in shown.stdout and "out/title.txt" in shown.stdout
    assert "2 file(s) not listed" in shown.stderr, shown.stderr
    listed = {f["path"] for f in cli.json("files", str(run_id), "--json")["files"]}
    assert listed == {"out/title\x1b]0;pwned\x07.txt", "out/red\x1b[31m.txt", "out/-C"}
    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["counts"] == {"fetched": 3} and not pulled["problems"], pulled
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out" / "out"
    assert (out / "-C").read_text() == "dash\n", "tar took the name -C as a name"
    assert (out / "red\x1b[31m.txt").read_text() == "y\n"


def test_a_box_without_tar_sends_each_file_framed(lab, cli):
    lab.configure(lab.target("box2"))
    run_id = cli.launch("sh", "-c", "mkdir -p r && head -c 300000 /dev/urandom > r/m.bin && "
                        "echo 1,2 > r/a.csv && : > r/empty", opts=("--target", "box2"))
    cli.wait_state(run_id, "succeeded", timeout=60)
    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["counts"] == {"fetched": 3}, pulled
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
    same_files(out, lab.remote_run_dir(lab.box2, run_id) / "code", ["r/m.bin", "r/a.csv",
                                                                     "r/empty"])
    assert cli.json("pull", str(run_id), "--json")["content_bytes"] == 0
