"""A big snapshot's runs get an overlay code folder (on a kernel that lets this user mount
one): each run pays only for what it changes, and a run writing, chmod-ing or deleting in
its folder, even as root, changes neither the store nor another run; `tui files` and
`tui pull` still see the whole folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.executors import overlay
from tests.helpers import REPO, Cli, isolated_env, require, stop_store

FILES = overlay.AUTO_FILES + 200


def _big_project(project: Path) -> None:
    for i in range(FILES):
        folder = project / "pkg" / f"m{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.py").write_text(f"value = {i}\n")
    (project / "data").mkdir()
    (project / "data" / "keep.txt").write_text("keep\n")
    (project / "data" / "drop.txt").write_text("drop\n")
    (project / "conf.txt").write_text("lr = 0.1\n")
    (project / "ro.txt").write_text("read-only\n")
    os.chmod(project / "ro.txt", 0o444)


def _tree_digest(folder: Path) -> str:
    """One hash of every file's path, mode and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(f"{path.relative_to(folder)} {path.stat().st_mode:o}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _disk_bytes(folder: Path) -> int:
    """What the folder takes on disk (blocks, not file sizes)."""
    return int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                              check=True).stdout.split()[0]) * 1024


def test_a_run_pays_for_its_changes_only_and_changes_nothing_shared(cli, project, env):
    store = Path(env["RUNYARD_HOME"])
    require(overlay.problem(store / "probe") is None,
            f"an overlay mount in a user namespace: {overlay.problem(store / 'probe')}")
    _big_project(project)
    first = cli.launch("sh", "-c", "cat conf.txt pkg/m3/f300.py")
    cli.wait_state(first, "succeeded")
    runs = store / "runs"
    assert (runs / str(first) / overlay.MARK).exists()
    assert list((runs / str(first) / "code").iterdir()) == [], "nothing changed, nothing kept"
    assert _disk_bytes(runs / str(first)) < 256 * 1024
    assert cli("logs", str(first)).stdout.startswith("lr = 0.1\nvalue = 300\n")
    shared = {"blobs": _tree_digest(store / "blobs"), "trees": _tree_digest(store / "trees")}

    script = ("echo 'lr = 0.5' >> conf.txt && printf X | dd of=pkg/m0/f1.py conv=notrunc "
              "status=none && chmod u+w ro.txt && echo mine > ro.txt && rm data/drop.txt && "
              "rm -r pkg/m11 && rm -r pkg/m10 && mkdir pkg/m10 && echo 1 > pkg/m10/fresh.py && "
              "mkdir out && echo 7 > out/result.txt && "
              "test \"$(id -u)\" = " + str(os.getuid()) + " && pwd")
    writer = cli.launch("sh", "-c", script)
    assert cli.wait_state(writer, "succeeded")["exit_code"] == 0
    assert cli("logs", str(writer)).stdout.strip().endswith(f"runs/{writer}/code")
    assert {"blobs": _tree_digest(store / "blobs"), "trees": _tree_digest(store / "trees")} \
        == shared, "the run's writes reached the store"

    # Writing the shared tree by its own path, even as root, is refused in the run.
    vandal = cli.launch("sh", "-c", f"for f in {store}/trees/*/conf.txt; do chmod 666 $f || "
                        "echo bad > $f || continue; exit 1; done")
    assert cli.wait_state(vandal, "succeeded", "failed")["state"] == "succeeded", \
        cli("logs", str(vandal)).stdout
    assert "Read-only file system" in cli("logs", str(vandal)).stdout

    after = cli.launch("sh", "-c", "cat conf.txt ro.txt data/drop.txt pkg/m0/f1.py "
                       "pkg/m11/f1100.py; test ! -e out")
    cli.wait_state(after, "succeeded")
    assert cli("logs", str(after)).stdout.startswith(
        "lr = 0.1\nread-only\ndrop\nvalue = 1\nvalue = 1100\n")

    files = {f["path"]: f for f in cli.json("files", str(writer), "--all", "--json")["files"]}
    status = {path: f["status"] for path, f in files.items()}
    assert status["conf.txt"] == status["pkg/m0/f1.py"] == status["ro.txt"] == "changed"
    assert status["out/result.txt"] == status["pkg/m10/fresh.py"] == "new"
    assert status["data/drop.txt"] == status["pkg/m11/f1100.py"] == "deleted"
    assert status["pkg/m10/f1000.py"] == "deleted", "a folder removed and made again hides all"
    assert status["data/keep.txt"] == status["pkg/m5/f500.py"] == "unchanged"
    snapshot = {f["path"] for f in cli.json("files", str(first), "--all", "--json")["files"]}
    assert len(snapshot) > FILES and \
        set(files) == snapshot | {"out/result.txt", "pkg/m10/fresh.py"}, \
        "every file of the snapshot (the deleted ones too) and the new ones"

    to = project.parent / "pulled"
    cli("pull", str(writer), "conf.txt", "data/keep.txt", "pkg/m5/f500.py", "out/result.txt",
        "--to", str(to))
    assert (to / "conf.txt").read_text() == "lr = 0.1\nlr = 0.5\n"
    assert (to / "data" / "keep.txt").read_text() == "keep\n"
    assert (to / "pkg" / "m5" / "f500.py").read_text() == "value = 500\n"
    assert (to / "out" / "result.txt").read_text() == "7\n"
    assert not (runs / str(writer) / overlay.WORK).exists(), "the work folder goes at the end"
    cli("rm", str(writer), str(after))
    assert not (runs / str(writer)).exists()
    assert _tree_digest(store / "trees") == shared["trees"], "the tree stays for run 1"


def test_auto_gives_an_overlay_where_it_can_and_a_copy_elsewhere(cli, project, env):
    """Run here and in a chroot (where the kernel refuses a user namespace), this checks
    both: the big snapshot's run succeeds either way, with the code folder it could have."""
    store = Path(env["RUNYARD_HOME"])
    _big_project(project)
    run_id = cli.launch("sh", "-c", "cat pkg/m11/f1100.py")
    cli.wait_state(run_id, "succeeded")
    assert cli("logs", str(run_id)).stdout == "value = 1100\n"
    code = store / "runs" / str(run_id) / "code"
    if overlay.problem(store / "probe") is None:
        assert (code.parent / overlay.MARK).exists() and list(code.iterdir()) == []
    else:
        assert not (code.parent / overlay.MARK).exists()
        assert (code / "pkg" / "m11" / "f1100.py").read_text() == "value = 1100\n"


def test_a_copy_target_copies_and_a_bad_mode_is_refused(cli, project, env):
    _big_project(project)
    (project / "runyard.toml").write_text('[targets.local]\ncode = "copy"\n')
    run_id = cli.launch("true")
    cli.wait_state(run_id, "succeeded")
    code = Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "code"
    assert (code / "pkg" / "m11" / "f1100.py").read_text() == "value = 1100\n"
    assert not (code.parent / overlay.MARK).exists()

    (project / "runyard.toml").write_text('[targets.local]\ncode = "layers"\n')
    refused = cli("launch", "--", "true", check=False)
    assert refused.returncode == 4, refused.stderr           # a config error
    lines = refused.stderr.strip().splitlines()
    assert "targets.local.code" in lines[0] and "'layers'" in lines[0]
    assert lines[-1] == 'hint: one of "auto", "copy", "overlay"'


def test_where_no_overlay_can_be_mounted_auto_copies_and_overlay_says_why(project, tmp_path):
    """A store whose path a mount option cannot carry (a ':') is such a place, for real."""
    env = isolated_env(tmp_path, home=tmp_path / "odd:store")
    cli = Cli(env, project)
    _big_project(project)
    try:
        copied = cli.launch("sh", "-c", "echo more >> conf.txt")
        cli.wait_state(copied, "succeeded")
        code = tmp_path / "odd:store" / "runs" / str(copied) / "code"
        assert (code / "pkg" / "m11" / "f1100.py").read_text() == "value = 1100\n"
        assert not (code.parent / overlay.MARK).exists()
        said = (tmp_path / "odd:store" / "engine.log").read_text()
        assert "big snapshots' runs get private copies, not overlays: the store's path" in said
        (project / "runyard.toml").write_text('[targets.local]\ncode = "overlay"\n')
        refused = cli.launch("true")
        run = cli.wait_state(refused, "failed")
        assert "overlay code folder" in (run.get("reason") or "") + cli("show", str(refused)).stdout
        assert "Traceback" not in cli("show", str(refused)).stdout
    finally:
        stop_store(env, tmp_path)


def test_a_sweep_starting_at_once_shares_one_whole_tree(cli, project, env):
    store = Path(env["RUNYARD_HOME"])
    why = overlay.problem(store / "probe")
    require(why is None, f"an overlay mount in a user namespace: {why}")
    _big_project(project)
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 4\n")
    ids = cli("launch", "--sweep", "i=1,2,3,4", "--", "sh", "-c",
              "cat pkg/m0/f{i}.py > mine.txt").stdout.split()
    for run_id in ids:
        cli.wait_state(int(run_id), "succeeded")
        assert (store / "runs" / run_id / "code" / "mine.txt").read_text().startswith("value = ")
    assert {p.name for p in (store / "trees").iterdir()} == {"pool", cli.run(ids[0])["snapshot"]}, \
        "one tree, no folder left from a build"


def test_a_resume_from_a_checkpoint_folder_of_the_snapshot_finds_it_whole(cli, project, env):
    """A checkpoint folder the snapshot shipped (untouched: only in the shared tree; added to:
    spread over both layers) was handed to the new run as a path in the parent's upper layer,
    where it is not, or not whole; and one in the shared tree must not be handed to a run that
    might write it."""
    store = Path(env["RUNYARD_HOME"])
    why = overlay.problem(store / "probe")
    require(why is None, f"an overlay mount in a user namespace: {why}")
    _big_project(project)
    (project / "ckpt" / "step-1").mkdir(parents=True)
    (project / "ckpt" / "step-1" / "w.txt").write_text("weights\n")
    script = ('if [ -n "$RUNYARD_RESUME_FROM" ]; then cat "$RUNYARD_RESUME_FROM"/*.txt; '
              'echo vandal > "$RUNYARD_RESUME_FROM/w.txt"; elif [ -n "$EXTRA" ]; then '
              'echo "$EXTRA" > ckpt/step-1/extra.txt; fi')
    untouched = int(cli("launch", "--checkpoints", "ckpt", "--", "sh", "-c", script).stdout
                    .split()[0])
    cli.wait_state(untouched, "succeeded")
    trees = _tree_digest(store / "trees")
    added = int(cli("launch", "--checkpoints", "ckpt", "--env", "EXTRA=more", "--", "sh", "-c",
                    script).stdout.split()[0])
    cli.wait_state(added, "succeeded")
    for parent, seen in ((untouched, "weights\n"), (added, "more\nweights\n")):
        child = int(cli("clone", str(parent), "--resume").stdout.split()[0])
        cli.wait_state(child, "succeeded", "failed")
        assert cli("logs", str(child)).stdout == seen, cli("show", str(child)).stdout
    assert _tree_digest(store / "trees") == trees, "a resumed run wrote the shared tree"


_UNPRIVILEGED = """
import os, sys
from pathlib import Path
from core.engine.removal import _remove_folders
from core.executors import overlay

root = Path(sys.argv[1])
# The probe leaves the overlay's work folder with a folder of mode 000 to remove.
print("probe:", overlay.problem(root / "trees"))
upper, lower = root / "run" / "code", root / "trees" / "lower"
(lower / "pkg").mkdir(parents=True)
(lower / "pkg" / "a.py").write_text("a")
(upper / "pkg").mkdir(parents=True)
(upper / "pkg" / "a.py").write_text("changed")
os.chmod(upper / "pkg", 0)                 # the run locked its own folder away
layers = overlay.Layers(upper, lower)
print("listed:", [f.path for f in layers.listing().files], layers.locate("pkg/a.py"))
print("removed:", _remove_folders([root / "run"])[1], (root / "run").exists())
"""


def test_an_unprivileged_user_s_overlay_run_can_be_probed_listed_and_removed(tmp_path):
    """Root without CAP_DAC_OVERRIDE meets mode 000 as any user does. The probe's clean-up
    raised TypeError (rmtree's onerror retried os.open without flags), so no big snapshot's
    run of an ordinary user ever started; a folder the run made mode 000 made `tui files`
    and `tui pull` fail (its opaque attribute unreadable) and `tui rm` raise."""
    require(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    proc = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--",
                           sys.executable, "-c", _UNPRIVILEGED, str(tmp_path)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("probe: ") and "TypeError" not in lines[0]
    assert lines[1] == "listed: [] None", "an unreadable folder hides what is below it"
    assert lines[2] == "removed: [] False"


def test_a_run_rewriting_its_overlay_mark_cannot_point_its_files_elsewhere(cli, project, env):
    """The mark beside the code folder named the lower layer that `tui files` and `tui pull`
    read, and the run can write it: pointed at /, a listing walked the whole machine and
    pulls read whatever this user can."""
    store = Path(env["RUNYARD_HOME"])
    why = overlay.problem(store / "probe")
    require(why is None, f"an overlay mount in a user namespace: {why}")
    _big_project(project)
    run_id = cli.launch("sh", "-c", f"echo /etc > ../{overlay.MARK}")
    cli.wait_state(run_id, "succeeded")
    paths = {f["path"] for f in cli.json("files", str(run_id), "--all", "--json")["files"]}
    assert "conf.txt" in paths and "passwd" not in paths


def test_a_run_replacing_its_run_folder_cannot_point_its_files_elsewhere(cli, project, env):
    """A run can rename its own run folder and make a new one whose code folder is a symlink:
    `tui files` then listed (and `tui pull` read) what it points at, for copies and overlays."""
    _big_project(project)
    for mode in ("copy", "auto"):
        (project / "runyard.toml").write_text(f'[targets.local]\ncode = "{mode}"\n')
        run_id = cli.launch("sh", "-c", 'C=$PWD; R=${C%/code}; cd ../.. && mv $R $R-moved && '
                            'mkdir $R && ln -s /etc $C && touch $R/code.overlay')
        cli.wait_state(run_id, "succeeded", "failed")
        paths = {f["path"] for f in cli.json("files", str(run_id), "--all", "--json")["files"]}
        assert "passwd" not in paths, mode
        pulled = cli("pull", str(run_id), "passwd", "--to", str(project.parent / mode),
                     check=False)
        assert not (project.parent / mode / "passwd").exists(), pulled.stdout
