"""Benchmark of a run's results: `tui pull` of 100 MB over SSH beside `rsync -a`, a second pull,
and `tui files` on a run with 10,000 output files.

    .venv/bin/python tests/bench/bench_files.py [--megabytes 100] [--files 10000]

Everything goes through the real CLI and engine, as a user types it. It starts its own
sshd (in a network namespace when it can, so bytes on the wire are counted on the veth
link; on loopback otherwise), launches a run on that box that writes MEGABYTES of
incompressible outputs (one model file of 80% and 200 result files), and measures in
the same run:
- `tui pull ID outputs`: seconds, file content that travelled (`content_bytes`) and bytes
  on the wire; then a second pull of the unchanged files;
- `rsync -a` over ssh of the same folder from the box: seconds, "Total bytes received"
  (--stats) and bytes on the wire; then a second rsync;
- `tui files ID` (and `--json`) on a run that wrote FILES files: on this machine (local
  target) and on the box, the first call (which lists and compares) and the median of
  the next five; beside `find . -type f` with the same metadata (locally, and over ssh).
Figures are printed; nothing is asserted. Root is needed (sshd logs in as root).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.common import Wire  # noqa: E402
from tests.daemons import sshd  # noqa: E402
from tests.helpers import Cli, kill_store_processes  # noqa: E402

WRITER = '''import os, random, sys
total, small = int(sys.argv[1]), 200
rng = random.Random(1)
os.makedirs("outputs/results", exist_ok=True)
model = total * 8 // 10
with open("outputs/model.bin", "wb") as out:
    left = model
    while left:
        n = min(left, 1 << 20)
        out.write(rng.randbytes(n))
        left -= n
each = (total - model) // small
for i in range(small):
    with open(f"outputs/results/part{i:03d}.bin", "wb") as out:
        out.write(rng.randbytes(each))
'''

MANY = '''import os, sys
count = int(sys.argv[1])
for i in range(count):
    folder = f"many/d{i // 500:03d}"
    os.makedirs(folder, exist_ok=True)
    with open(f"{folder}/f{i:05d}.txt", "w") as out:
        out.write(f"{i}\\n")
'''


def mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:9.3f} MB"


def row(label: str, seconds: float, payload: int | None, wired: int | None) -> None:
    print(f"{label:40}{seconds:9.3f} s {mb(payload)} {mb(wired)}")


def timed(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def setup(root: Path):
    client = sshd.Client(root / "client")
    namespace = None
    if sshd.Namespace.possible():
        namespace = sshd.Namespace().create()
        server = sshd.SshBox(root, "box", client.public_key, address=namespace.box_address,
                               netns=namespace.name).start()
        wire = Wire(namespace.host_if)
        print(f"box: sshd in network namespace {namespace.name} ({namespace.box_address})")
    else:
        server = sshd.SshBox(root, "box", client.public_key).start()
        wire = Wire(None)
        print("box: sshd on loopback (no namespace: wire bytes not counted)")
    client.trust(server)
    client.add_alias("box", server)
    return client, server, namespace, wire


def make_cli(root: Path, client, server) -> Cli:
    project = root / "project"
    project.mkdir()
    (project / "write.py").write_text(WRITER)
    (project / "many.py").write_text(MANY)
    (project / "runyard.toml").write_text(
        f'[targets.box]\nkind = "ssh"\nhost = "box"\nssh_config = "{client.config}"\n'
        f'work_dir = "{server.work}"\ngpus = "none"\ncommand_timeout = 120\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env.update(RUNYARD_HOME=str(root / "store"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_DATA_HOME=str(root / "data"), HOME=str(root / "home"),
               RUNYARD_ENGINE_IDLE_EXIT="600")
    (root / "home").mkdir()
    env.pop("SSH_AUTH_SOCK", None)
    return Cli(env, project)


def rsync(client, source: str, dest: Path) -> tuple[float, int]:
    started = time.monotonic()
    proc = subprocess.run(["rsync", "-a", "--stats", "-e", f"ssh -F {client.config}",
                           f"box:{source}/", f"{dest}/"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    received = int(re.search(r"Total bytes received: ([\d,]+)", proc.stdout)[1].replace(",", ""))
    return seconds, received


def remote_code(cli: Cli, server, run_id: int) -> str:
    """The run's code folder on the box (its handle is not in the CLI's JSON)."""
    import sqlite3
    with sqlite3.connect(Path(cli.env["RUNYARD_HOME"]) / "runyard.db") as conn:
        handle = json.loads(conn.execute("SELECT handle FROM runs WHERE id = ?",
                                         (run_id,)).fetchone()[0])
    return f"{handle['work']}/{handle['run_dir']}/code"


def measure_pull(cli: Cli, client, server, wire: Wire, root: Path, megabytes: int) -> None:
    size = megabytes * 1_000_000
    run_id = cli.launch("python3", "write.py", str(size), opts=("--target", "box"),
                        timeout=300)
    cli("wait", str(run_id), timeout=600)
    code = remote_code(cli, server, run_id)
    print(f"\n{megabytes} MB of outputs (1 model file, 200 result files, incompressible) on the "
          f"box, pulled here:\n")
    print(f"{'':40}{'time':>11} {'content':>12} {'on the wire':>12}")
    for label in ("tui pull (first)", "tui pull (second, unchanged)"):
        before = wire.read()
        seconds, proc = timed(lambda: cli("pull", str(run_id), "outputs", "--json",
                                          timeout=600))
        reply = json.loads(proc.stdout)
        row(label, seconds, reply["content_bytes"],
            None if before is None else wire.read() - before)
    dest = root / "rsync-copy"
    dest.mkdir()
    for label in ("rsync -a (first)", "rsync -a (second, unchanged)"):
        before = wire.read()
        seconds, received = rsync(client, f"{code}/outputs", dest)
        row(label, seconds, received, None if before is None else wire.read() - before)
    print("\ncontent: tui pull's content_bytes (file content that travelled); rsync's "
          "\"Total bytes received\".\nwire: both directions on the veth link (SSH's framing "
          "and encryption included). tui pull\ngoes through the CLI and the engine (its "
          "connection to the box is already open; rsync\nopens one each time), lists and "
          "hashes on the box first, and checks every file's sha256.")


def latencies(cli: Cli, run_id: int, *args: str) -> tuple[float, float]:
    first, _ = timed(lambda: cli("files", str(run_id), *args))
    rest = [timed(lambda: cli("files", str(run_id), *args))[0] for _ in range(5)]
    return first, statistics.median(rest)


def measure_listing(cli: Cli, client, server, files: int) -> None:
    print(f"\n`tui files` on a run that wrote {files:,} files (first call: lists and compares; "
          "then the median of 5):\n")
    print(f"{'':40}{'first':>9} {'median':>9}")
    for target in ("local", "box"):
        run_id = cli.launch("python3", "many.py", str(files), opts=("--target", target))
        cli("wait", str(run_id), timeout=600)
        count = len(cli.json("files", str(run_id), "--json")["files"])
        assert count == files, count
        for args in ((), ("--json",)):
            first, median = latencies(cli, run_id, *args)
            label = f"tui files {' '.join(args)} ({target})"
            print(f"{label:40}{first:8.3f}s {median:8.3f}s")
        if target == "local":
            folder = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "code"
            peer = ["find", ".", "-type", "f", "-printf", "%s %T@ %p\n"]
            seconds = statistics.median(timed(lambda: subprocess.run(
                peer, cwd=folder, capture_output=True, check=True))[0] for _ in range(5))
            print(f"{'  peer: find -printf (local)':40}{'':9} {seconds:8.3f}s")
        else:
            code = remote_code(cli, server, run_id)
            command = ["ssh", "-F", str(client.config), "box",
                       f"cd {code} && find . -type f -exec stat -c '%s %Y %n' {{}} +"]
            seconds = statistics.median(timed(lambda: subprocess.run(
                command, capture_output=True, check=True))[0] for _ in range(5))
            print(f"{'  peer: ssh box find -exec stat':40}{'':9} {seconds:8.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    if os.geteuid() != 0 or not sshd.available():
        sys.exit("needs root and OpenSSH's sshd")
    root = Path(tempfile.mkdtemp(prefix="runyard-bench-files-"))
    client, server, namespace, wire = setup(root)
    cli = make_cli(root, client, server)
    try:
        measure_pull(cli, client, server, wire, root, args.megabytes)
        measure_listing(cli, client, server, args.files)
    finally:
        cli("engine", "stop", check=False)
        kill_store_processes(root / "store")
        server.stop()
        kill_store_processes(server.work)
        if namespace is not None:
            namespace.delete()
        subprocess.run(["rm", "-rf", str(root)])


if __name__ == "__main__":
    main()
