"""Benchmark of SSH boxes: code transfer vs `rsync -a`, reconnects, one connection for many runs.

    .venv/bin/python tests/bench/bench_ssh.py [--files 2000]

Starts its own sshd (in a network namespace when it can, so the bytes on the wire are
counted on the veth link; on loopback otherwise), makes a project of N files, and
measures in the same run:
- runyard: first launch (code to a fresh box), second launch of the unchanged project,
  launch after one edited file; bytes the engine wrote into SSH (payload) and seconds
  until the run's private copy is on the box and the run started;
- rsync -a over ssh of the same tree to the same box, the same three times
  ("Total bytes sent" from --stats, and seconds);
- reconnect time after the connection is cut, and after sshd restarts;
- sshd connections and poll cost with 50 watched runs.
Figures are printed; nothing is asserted. Root is needed (sshd logs in as root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from core.store.blobs import BlobStore  # noqa: E402
from core.config import Project, SnapshotConfig  # noqa: E402
from core.remote import scripts  # noqa: E402
from core.remote.box import Box  # noqa: E402
from core.remote.mirror import Mirror, Watch  # noqa: E402
from core.remote.settings import SshSettings  # noqa: E402
from core.remote.transfer import send_snapshot  # noqa: E402
from core.store.snapshot import take  # noqa: E402
from tests.bench.common import Wire  # noqa: E402
from tests.daemons import sshd  # noqa: E402
from tests.helpers import kill_store_processes  # noqa: E402

WORDS = ("loss step epoch model layer tensor batch train eval grad optimizer learning rate "
         "dropout attention head token embed config seed data loader checkpoint save import "
         "def return self for in if else while class torch numpy np x y z").split()


def make_project(root: Path, files: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        folder = root / f"pkg{i % 40}" / f"mod{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 20 == 0:
            data = rng.randbytes(rng.randint(10_000, 60_000))
            name = f"asset{i}.bin"
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(80, 1400))]
            data = (" ".join(words) + "\n").encode()
            name = f"file{i}.py"
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:8.3f} MB"


def rsync(client: sshd.Client, source: Path, dest: str) -> tuple[int, float]:
    started = time.monotonic()
    proc = subprocess.run(["rsync", "-a", "--stats", "-e", f"ssh -F {client.config}",
                           f"{source}/", f"box:{dest}/"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    sent = int(re.search(r"Total bytes sent: ([\d,]+)", proc.stdout)[1].replace(",", ""))
    return sent, seconds


async def launch_once(box: Box, blobs: BlobStore, snapshot_id: str,
                      run_dir: str) -> tuple[float, float]:
    """What SshExecutor.start does; returns (seconds sending code, seconds copying + starting)."""
    facts = await box.ready()
    script = scripts.launch(facts.work, run_dir, snapshot_id, "", [], {"X": "1"}, ["true"],
                            facts.wrapper)
    started = time.monotonic()
    if snapshot_id not in box.known_snapshots:
        await send_snapshot(box, snapshot_id, blobs)
    sent = time.monotonic()
    reply = await box.script(script, what="starting")
    assert reply.text().startswith("PID"), reply
    return sent - started, time.monotonic() - sent


def row(label: str, payload: int | None, wired: int | None, transfer: float,
        start: float | None = None) -> None:
    start_text = "-" if start is None else f"{start:.3f}"
    print(f"{label:34}{mb(payload)} {mb(wired)} {transfer:10.3f} {start_text:>12}")


async def measure_transfer(box: Box, wire: Wire, client, root: Path, files: int) -> None:
    project = root / "project"
    project.mkdir()
    size = make_project(project, files)
    blobs = BlobStore(root / "blobs")
    started = time.monotonic()
    snap = take(Project(project, None, "", False), SnapshotConfig(), blobs, {})
    print(f"project: {snap.file_count} files, {size / 1e6:.1f} MB "
          f"(local snapshot {time.monotonic() - started:.2f} s, not counted below)")
    started = time.monotonic()
    await box.ready()
    print(f"connect + probe: {time.monotonic() - started:.2f} s (once per engine, shared)\n")
    print(f"{'':34}{'payload':>11} {'on the wire':>11} {'code s':>10} {'copy+start s':>12}")
    edited = project / "pkg3" / "mod3" / "file3.py"
    steps = [("runyard first launch", snap.id), ("runyard second launch, unchanged", snap.id)]
    for run, (label, snapshot_id) in enumerate(steps, start=1):
        before, wire_before = box.bytes_sent, wire.read()
        transfer, start = await launch_once(box, blobs, snapshot_id, f"runs/bench/{run}")
        wired = None if wire_before is None else wire.read() - wire_before
        row(label, box.bytes_sent - before, wired, transfer, start)
    edited.write_text(edited.read_text() + "# one more line\n")
    changed = take(Project(project, None, "", False), SnapshotConfig(), blobs, {})
    before, wire_before = box.bytes_sent, wire.read()
    transfer, start = await launch_once(box, blobs, changed.id, "runs/bench/3")
    wired = None if wire_before is None else wire.read() - wire_before
    row("runyard after one file edited", box.bytes_sent - before, wired, transfer, start)
    edited.write_text(edited.read_text()[:-len("# one more line\n")])
    dest = f"{box.facts.work}/rsync-copy"
    for label in ("rsync -a first", "rsync -a second, unchanged"):
        wire_before = wire.read()
        sent, seconds = rsync(client, project, dest)
        row(label, sent, None if wire_before is None else wire.read() - wire_before, seconds)
    edited.write_text(edited.read_text() + "# one more line\n")
    wire_before = wire.read()
    sent, seconds = rsync(client, project, dest)
    row("rsync -a after one file edited", sent,
        None if wire_before is None else wire.read() - wire_before, seconds)
    print("code s: until the code is on the box (runyard: its blob store and the snapshot's\n"
          "layout; rsync: the copy). copy+start s: the run's private copy (cp -R) and its start.\n"
          "rsync opens a new SSH connection each time; runyard's is already open. Payload:\n"
          "bytes written into SSH before encryption; wire: both directions on the veth link.\n")


async def measure_reconnects(box: Box, server: sshd.SshBox, trials: int = 5) -> None:
    box.want()
    try:
        cuts = []
        for _ in range(trials):
            await box.ready()
            cut_at = time.monotonic()
            server.cut_connections()
            while box.connected:
                await asyncio.sleep(0.005)
            await box.wait_up()
            cuts.append(time.monotonic() - cut_at)
        print("reconnect after the connection is cut: " +
              ", ".join(f"{s:.2f}" for s in cuts) + " s")
        restarts = []
        for _ in range(3):
            await box.ready()
            server.stop()
            await asyncio.sleep(2.0)
            up_at = time.monotonic()
            server.start()
            await box.wait_up()
            restarts.append(time.monotonic() - up_at)
        print("reconnect after sshd was down 2 s, counted from its restart: " +
              ", ".join(f"{s:.2f}" for s in restarts) + " s (backoff phase decides)")
    finally:
        box.unwant()


async def measure_many_runs(box: Box, server: sshd.SshBox, root: Path, runs: int = 50) -> None:
    facts = await box.ready()
    go = root / "go"
    mirror = Mirror(box)
    watches = []
    for n in range(runs):
        script = scripts.launch(facts.work, f"runs/many/{n}", None, "", [], {},
                                ["sh", "-c", f"echo up {n}; while [ ! -e {go} ]; do sleep 0.3; "
                                             f"done; echo done {n}"], facts.wrapper)
        words = (await box.script(script, what="starting")).text().split()
        watches.append(mirror.add(Watch(f"runs/many/{n}", [("output.log",
                                                             root / "many" / str(n) / "out")],
                                        int(words[1]), words[2] if len(words) > 2 else None)))
    await asyncio.sleep(2)
    connections = len(server.connections())
    before, started, polls = box.bytes_received, time.monotonic(), mirror.polls
    await asyncio.sleep(5)
    per_poll = (time.monotonic() - started) / max(1, mirror.polls - polls)
    received = (box.bytes_received - before) / max(1, mirror.polls - polls)
    go.touch()
    started = time.monotonic()
    await asyncio.gather(*(w.done for w in watches))
    print(f"{runs} watched runs: {connections} sshd connection(s); a poll of all of them every "
          f"{per_poll:.2f} s, {received / 1e3:.1f} kB back per poll while idle; all {runs} "
          f"ends noticed and caught up {time.monotonic() - started:.2f} s after they were told "
          f"to finish")


async def main_async(args) -> None:
    root = Path(tempfile.mkdtemp(prefix="runyard-bench-ssh-"))
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
    box = Box(SshSettings(host="box", ssh_config=str(client.config)), str(server.work))
    try:
        await measure_transfer(box, wire, client, root, args.files)
        await measure_many_runs(box, server, root)
        await measure_reconnects(box, server)
    finally:
        await box.close()
        server.stop()
        kill_store_processes(server.work)
        if namespace is not None:
            namespace.delete()
        subprocess.run(["rm", "-rf", str(root)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    if os.geteuid() != 0 or not sshd.available():
        sys.exit("needs root and OpenSSH's sshd")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
