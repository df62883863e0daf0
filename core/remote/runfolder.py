"""A run's folder on a box: its name, its private copy of the code, the variables naming it.

Shared by every executor that runs on a box over SSH (the ssh target, a slurm target that
submits on a login node). On the box, in the work folder WORK:

    runs/<store>/<id>-<created>/   code/ (the run's private copy), output.log, metrics.jsonl,
                                   pid, exit_status

`prepare_run` makes that folder in one round trip, sending the snapshot first when the box
lacks it (and again if it vanished from the box meanwhile). With a `Start` it also starts
the run, in the same script (scripts.launch); without one the folder is left ready for
the executor to start the run its own way (sbatch).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path

from core.models import Run
from core.remote import scripts
from core.remote.box import Box, Completed
from core.remote.failures import BoxError
from core.remote.transfer import TransferStats, send_snapshot
from core.store.blobs import BlobStore
from core.store.snapshot import executables


def store_key(home: Path) -> str:
    """Names this store's runs on a box (several stores and machines may share one box)."""
    return hashlib.sha256(f"{socket.gethostname()}:{home}".encode()).hexdigest()[:12]


def folder_name(store: str, run: Run) -> str:
    """`runs/<store>/<id>-<created>`, relative to the work folder: named by creation time
    too, so a store made again never meets an old folder."""
    stamp = "".join(c for c in run.created_at or "" if c.isdigit())
    return f"runs/{store}/{run.id}-{stamp}"


def run_env(env: dict[str, str], work: str, folder: str) -> dict[str, str]:
    """The run's variables with the paths they name on the box (`folder` absolute)."""
    return {**env, "RUNYARD_RUN_DIR": folder, "RUNYARD_METRICS": f"{folder}/metrics.jsonl",
            "RUNYARD_HOME": work}


@dataclass(frozen=True)
class Start:
    """What starting the run needs, when `prepare_run` starts it too."""

    workdir: str                 # the subfolder of the code the run starts in ("" = the top)
    env: dict[str, str]
    command: list[str]


@dataclass(frozen=True)
class Prepared:
    """The box's answer: `READY <folder>` (prepared) or `PID <pid> <start time>` (started)."""

    answer: str
    reply: Completed
    sent: TransferStats | None       # what had to be sent; None: the box had the code

    def sent_record(self) -> dict:
        """For the run's handle: how much of the code travelled."""
        if self.sent is None:
            return {}
        return {"sent": {"blobs": self.sent.blobs_sent, "of": self.sent.blobs,
                         "bytes": self.sent.content_bytes_sent}}


async def prepare_run(box: Box, folder: str, snapshot_id: str | None, blobs: BlobStore, *,
                      what: str, start: Start | None = None) -> Prepared:
    """Give `folder` (relative to the work folder) its private copy of the snapshot, sending
    what the box lacks, and start the run there when `start` says how. Raises BoxError with
    the box's reason when it refuses (a full disk, a folder it cannot make)."""
    facts = await box.ready()
    runnable = await asyncio.to_thread(executables, snapshot_id, blobs)
    if start is None:
        script, expect = scripts.prepare_run(facts.work, folder, snapshot_id, runnable), "READY"
    else:
        script, expect = scripts.launch(facts.work, folder, snapshot_id, start.workdir,
                                        runnable, start.env, start.command,
                                        facts.wrapper), "PID"
    sent = None
    for _attempt in range(2):
        if snapshot_id and snapshot_id not in box.known_snapshots:
            sent = await send_snapshot(box, snapshot_id, blobs)
        reply = await box.script(script, what=what)
        answer = reply.reply(expect, "ERR", "NEED")
        if answer.startswith("ERR "):
            raise BoxError(f"{box.label}: {answer[4:]}", target=box.label)
        if answer.startswith(expect + " "):
            return Prepared(answer, reply, sent)
        if answer != "NEED":
            raise BoxError(f"{box.label}: unexpected reply while {what}: "
                           f"{reply.text()[-200:]!r} {reply.error_text()}", target=box.label)
        box.known_snapshots.discard(snapshot_id)          # it vanished from the box: send again
    raise BoxError(f"{box.label}: the code did not arrive in {folder}: {reply.error_text()}",
                   target=box.label)
