"""What the files tests share: a run that writes a model file and a CSV, and checks on them."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Written into the test's project; run as `python3 write_outputs.py SIZE [SEED]`: a model
# file of SIZE pseudo-random bytes (incompressible, like real weights), a CSV of results,
# a checkpoint folder, and one change to a code file.
WRITER = '''import os, random, sys
size = int(sys.argv[1]); seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rng = random.Random(seed)
os.makedirs("results", exist_ok=True)
os.makedirs("ckpt", exist_ok=True)
with open("model.bin", "wb") as out:
    left = size
    while left:
        n = min(left, 1 << 20)
        out.write(rng.randbytes(n))
        left -= n
with open("results/metrics.csv", "w") as out:
    out.write("epoch,loss,acc\\n")
    for epoch in range(1, 6):
        out.write(f"{epoch},{1 / epoch:.4f},{1 - 0.5 / epoch:.4f}\\n")
for epoch in (1, 2):
    with open(f"ckpt/epoch{epoch}.json", "w") as out:
        out.write('{"epoch": %d, "seed": %d}\\n' % (epoch, seed))
with open("notes.txt", "a") as out:
    out.write("a line the run added\\n")
print("wrote", size, "bytes")
'''


# What that run writes or changes in its working folder.
WROTE_BY_WRITER = ["model.bin", "results/metrics.csv", "ckpt/epoch1.json", "ckpt/epoch2.json",
                   "notes.txt"]


def add_writer(project: Path) -> None:
    (project / "write_outputs.py").write_text(WRITER)
    (project / "notes.txt").write_text("notes from the project\n")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_path(listing: dict) -> dict[str, dict]:
    return {f["path"]: f for f in listing["files"]}


def same_files(here: Path, there: Path, names: list[str]) -> None:
    """Each named file under `here` is byte-identical to the one under `there`."""
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


# A run that writes names meant to hurt: escapes, a newline, non-UTF-8 bytes, a symlink out,
# a fifo, a name that looks like an option.
HOSTILE = r'''import os
os.makedirs("out", exist_ok=True)
open("out/title\x1b]0;pwned\x07.txt", "w").write("x\n")
open("out/red\x1b[31m.txt", "w").write("y\n")
open("out/new\nline.txt", "w").write("z\n")
open(b"out/latin\xe9.txt", "w").write("w\n")
os.symlink("/etc/passwd", "out/passwd-link")
os.mkfifo("out/a-fifo")
open("out/-C", "w").write("dash\n")
'''
