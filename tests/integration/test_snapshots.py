"""What a run sees is frozen at launch, also while it waits in the queue."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require


def test_edits_after_launch_do_not_reach_a_queued_run(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    (project / "data.txt").write_text("v1\n")
    (project / "gone.txt").write_text("still here\n")
    blocker = cli.launch("sleep", "300")
    queued = cli.launch("sh", "-c", "cat data.txt gone.txt; ls")
    assert cli.run(queued)["state"] == "queued"
    (project / "data.txt").write_text("v2\n")
    (project / "gone.txt").unlink()
    (project / "added.txt").write_text("new\n")
    cli("cancel", str(blocker))
    cli("wait", str(queued))
    out = cli("logs", str(queued)).stdout
    assert "v1" in out and "still here" in out and "added.txt" not in out


def test_a_run_writing_into_its_code_changes_no_other_run(cli, project, env):
    blobs = Path(env["RUNYARD_HOME"]) / "blobs"
    writer = cli.launch("sh", "-c", "echo overwritten > train.py; echo new > extra.py")
    before = {p: p.read_bytes() for p in blobs.rglob("*") if p.is_file()}
    cli("wait", str(writer))
    reader = cli.launch("sh", "-c", "head -c 3 train.py; ls extra.py 2>/dev/null; echo")
    cli("wait", str(reader))
    assert cli.run(reader)["snapshot"] == cli.run(writer)["snapshot"]
    assert cli("logs", str(reader)).stdout == '"""\n'
    assert {p: p.read_bytes() for p in blobs.rglob("*") if p.is_file()} == before


def test_a_run_that_writes_truncates_chmods_renames_and_deletes_its_copy_changes_nothing_shared(
        cli, project, env, tmp_path):
    """The private copy's guarantee, whatever it is made of (a reflink or a copy): a run
    changing its copy in every way changes neither the blobs nor a run beside it."""
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 2\n")
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"):
        (project / name).write_text(f"{name} as launched\n")
    (project / "tool.sh").write_text("echo tool\n")
    (project / "tool.sh").chmod(0o755)
    blobs = Path(env["RUNYARD_HOME"]) / "blobs"
    done, go = tmp_path / "done", tmp_path / "go"
    reader = cli.launch("sh", "-c", f"while [ ! -f {done} ]; do sleep 0.05; done; "
                        "cat a.txt b.txt c.txt d.txt e.txt; ls -l tool.sh | cut -c1-10")
    writer = cli.launch("sh", "-c", f"while [ ! -f {go} ]; do sleep 0.05; done; "
                        "echo more >> a.txt; : > b.txt; chmod 600 c.txt; chmod 000 tool.sh; "
                        "mv d.txt moved.txt; rm e.txt; echo again > c.txt; touch " + str(done))
    before = {p: (p.read_bytes(), p.stat().st_mode) for p in blobs.rglob("*") if p.is_file()}
    go.write_text("")
    assert cli.wait_state(writer, "succeeded")["exit_code"] == 0
    assert cli.wait_state(reader, "succeeded")
    assert cli("logs", str(reader)).stdout == (
        "a.txt as launched\nb.txt as launched\nc.txt as launched\nd.txt as launched\n"
        "e.txt as launched\n-rwxr-xr-x\n")
    after = {p: (p.read_bytes(), p.stat().st_mode) for p in blobs.rglob("*") if p.is_file()}
    assert after == before
    again = cli.launch("sh", "-c", "cat a.txt b.txt c.txt d.txt e.txt")
    cli.wait_state(again, "succeeded")
    assert cli("logs", str(again)).stdout.count("as launched") == 5


def test_git_commit_and_uncommitted_diff_are_recorded(cli, git_project, env):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_project, capture_output=True,
                          text=True, check=True).stdout.strip()
    clean = cli.launch("true")
    assert cli.run(clean)["git"] == {"commit": head, "dirty": False}
    with open(git_project / "train.py", "a") as handle:
        handle.write("# tweak\n")
    dirty = cli.launch("true")
    shown = cli.json("show", str(dirty), "--json")
    assert shown["run"]["git"] == {"commit": head, "dirty": True}
    assert "+# tweak" in Path(shown["git_diff"]).read_text()


def test_launching_from_a_subfolder_runs_there(cli, git_project):
    sub = git_project / "sub"
    sub.mkdir()
    (sub / "here.txt").write_text("in sub\n")
    run_id = cli.launch("cat", "here.txt", cwd=sub)
    cli("wait", str(run_id))
    assert cli("logs", str(run_id)).stdout == "in sub\n"
    assert cli.run(run_id)["workdir"] == "sub"


def test_big_files_are_left_out_with_a_warning(cli, project):
    (project / "runyard.toml").write_text("[snapshot]\nmax_file_size = '4KB'\n")
    (project / "weights.bin").write_bytes(b"0" * 5000)
    proc = cli("launch", "--", "ls")
    assert "warning: left out 1 file(s)" in proc.stderr and "weights.bin (5.0 KB)" in proc.stderr
    cli("wait", proc.stdout.strip())
    assert "weights.bin" not in cli("logs", proc.stdout.strip()).stdout


def test_a_hundred_launches_store_the_project_once(cli, env, project):
    blobs = Path(env["RUNYARD_HOME"]) / "blobs"
    first = cli.launch("true")
    count = sum(1 for p in blobs.rglob("*") if p.is_file())
    for _ in range(99):
        cli.launch("true")
    after = sum(1 for p in blobs.rglob("*") if p.is_file())
    assert after == count
    snapshots = {r["snapshot"] for r in cli.json("status", "--json", "--all")["runs"]}
    assert snapshots == {cli.run(first)["snapshot"]}


def _older_than_the_cache_window(path: Path) -> None:
    """The hash cache keeps only files untouched for 2 s (a newer one could still change
    within its timestamps' granularity): wait until this one is that old."""
    import time
    from tests.helpers import wait_for
    wait_for(lambda: time.time() - path.stat().st_ctime > 2.2, timeout=10,
             what=f"{path.name} to be older than the cache window")


@pytest.mark.parametrize("rewrite", ["cp -p", "rsync -t"])
def test_a_file_rewritten_with_its_old_size_and_mtime_is_what_the_next_run_sees(
        cli, project, rewrite):
    """`cp -p` and `rsync -t --inplace --checksum` rewrite a file keeping inode, size, mtime: the
    snapshot hash cache must not serve the old content (it keys on ctime too)."""
    require(shutil.which(rewrite.split()[0]) is not None, f"{rewrite.split()[0]} is not installed")
    data, staged = project / "config.txt", project.parent / "staged.txt"
    data.write_text("lr=0.1\n")
    staged.write_text("lr=0.9\n")
    for path in (data, staged):
        os.utime(path, (1_600_000_000, 1_600_000_000))
    _older_than_the_cache_window(data)
    first = cli.launch("cat", "config.txt")
    cli("wait", str(first))
    inode = data.stat().st_ino
    command = ["cp", "-p"] if rewrite == "cp -p" else ["rsync", "-t", "--inplace", "--checksum"]
    subprocess.run([*command, str(staged), str(data)], check=True)
    assert (data.stat().st_ino, data.stat().st_size, data.stat().st_mtime) == \
        (inode, 7, 1_600_000_000)
    second = cli.launch("cat", "config.txt")
    cli("wait", str(second))
    assert cli("logs", str(first)).stdout == "lr=0.1\n"
    assert cli("logs", str(second)).stdout == "lr=0.9\n"


def test_an_unreadable_project_file_is_named_with_how_to_leave_it_out(cli, env, project):
    """Root reads everything, so the engine runs without the capabilities that let it
    (setpriv drops them from the bounding set, for the engine the CLI starts too)."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    secret = project / "secret.key"
    secret.write_text("k")
    secret.chmod(0)
    proc = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                           sys.executable, "-m", "tui", "launch", "--", "true"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"cannot read the project file {secret}: Permission denied" in proc.stderr
    assert 'hint: leave it out of snapshots: [snapshot] exclude = ["secret.key"]' in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    (project / "runyard.toml").write_text('[snapshot]\nexclude = ["secret.key"]\n')
    again = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                            sys.executable, "-m", "tui", "launch", "--", "true"], cwd=project,
                           env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr


def test_a_snapshot_glob_that_backtracks_does_not_freeze_the_engine(cli, project):
    """`*_*_..._*.tmp` against a name with 80 underscores backtracks for hours in `re`, and
    held the engine's GIL meanwhile, so every command timed out on it. Globs are matched with
    the `regex` package, which settles this one at once, under a time limit for any other."""
    (project / "runyard.toml").write_text("[snapshot]\nexclude = ['*_*_*_*_*_*_*_*_*.tmp']\n")
    (project / ("_".join(["a"] * 80) + ".txt")).write_text("x")
    (project / "a_b_c_d_e_f_g_h_i.tmp").write_text("x")            # excluded
    run_id = int(cli("launch", "--", "ls", timeout=60).stdout)
    cli("wait", str(run_id))
    listed = cli("logs", str(run_id)).stdout.split()
    assert "_".join(["a"] * 80) + ".txt" in listed and "a_b_c_d_e_f_g_h_i.tmp" not in listed
