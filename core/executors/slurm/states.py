"""What Slurm says about jobs, read: squeue lines, job states, and how a job's end maps to a run's.

A job is named by its key: `123` for a plain job, `120_3` for task 3 of array job 120 (squeue,
scontrol and scancel all take that form). The run's own exit_status file (written by
runwrap.sh) gives the exact exit code; Slurm's state says what Slurm did to the job:

    COMPLETED, FAILED     the exit status as the run wrote it
    TIMEOUT               failed, "Slurm: time limit (T) reached"
    CANCELLED             cancelled (by runyard, or by someone with scancel)
    OUT_OF_MEMORY         failed, "Slurm: out of memory"
    PREEMPTED, DEADLINE,
    BOOT_FAIL, ...        failed, with Slurm's word for it
    NODE_FAIL             lost: the node died and took the run with it
    (forgotten)           the exit status if the run left one, else lost
"""

from __future__ import annotations

from dataclasses import dataclass

from core.executors.base import Exit, describe_code

SQUEUE_FORMAT = "%i|%T|%r|%N|%l"

ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED",
                    "SIGNALING", "STAGE_OUT", "RESIZING", "REQUEUED", "REQUEUE_HOLD",
                    "REQUEUE_FED", "RESV_DEL_HOLD", "POWER_UP_NODE", "UPDATE_DB"})

_ENDED_WHY = {
    "TIMEOUT": "time limit{limit} reached",
    "OUT_OF_MEMORY": "out of memory (the job went over its memory limit)",
    "PREEMPTED": "preempted",
    "DEADLINE": "deadline reached",
    "BOOT_FAIL": "the node failed to boot",
    "SPECIAL_EXIT": "the job ended in SPECIAL_EXIT",
    "REVOKED": "the job was revoked (it runs on another cluster)",
    "CANCELLED": "job cancelled",
}

# Words in a Slurm command's error that mean "the controller cannot be reached right now".
_TRANSIENT = ("unable to contact slurm controller", "socket timed out", "connection refused",
              "temporarily unable", "transport endpoint", "connection timed out",
              "slurm_persist_conn", "zero bytes were transmitted")


@dataclass(frozen=True)
class JobInfo:
    """One squeue line: a job's key, state, reason (pending) and node list (running)."""

    key: str
    state: str
    reason: str
    nodes: str
    time_limit: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def detail(self) -> str:
        """What `tui status` shows for the run: `job 120_3 pending (Priority)`."""
        word = self.state.lower().replace("_", " ")
        if self.state == "PENDING":       # no reason yet: Slurm has not looked at it
            return f"job {self.key} pending ({self.reason})" if self.reason else \
                f"job {self.key} pending"
        if self.state == "RUNNING":
            return f"job {self.key} running on {self.nodes}" if self.nodes else \
                f"job {self.key} running"
        return f"job {self.key} {word}"


def parse_squeue(text: str) -> dict[str, JobInfo]:
    """Lines of `squeue -h -r -t all -o SQUEUE_FORMAT`; keys of array tasks are `A_T`."""
    jobs = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5 or not fields[0] or not fields[0][0].isdigit():
            continue                       # noise from a login shell, or a header
        key, state, reason, nodes, limit = fields
        state = state.split()[0].rstrip("+") if state.strip() else "UNKNOWN"
        jobs[key] = JobInfo(key, state, "" if reason == "None" else reason, nodes, limit)
    return jobs


def parse_job_id(stdout: str) -> str | None:
    """The id `sbatch --parsable` printed ("123" or "123;cluster"), from its last line."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    job_id = lines[-1].split(";", 1)[0]
    return job_id if job_id.isdigit() else None


def is_transient(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _TRANSIENT)


def outcome(key: str, info: JobInfo | None, status: Exit | None, ended_at: float | None) -> Exit:
    """How the run ended, from Slurm's last word on its job and the run's own exit status.

    `info` None: Slurm no longer knows the job (it forgets ended jobs after MinJobAge).
    """
    code = status.exit_code if status is not None else None
    if info is None:
        if status is not None:
            return Exit(code, status.reason, ended_at=ended_at)
        return Exit(None, lost=True, reason=f"Slurm no longer knows job {key}, and the run left "
                                            "no exit status")
    state = info.state
    if state == "NODE_FAIL":
        nodes = f" ({info.nodes})" if info.nodes else ""
        return Exit(code, lost=True, ended_at=ended_at,
                    reason=f"Slurm: node failure{nodes}; job {key} ended with it")
    if state in ("COMPLETED", "FAILED"):
        if status is not None:
            return Exit(code, status.reason, ended_at=ended_at)
        if state == "COMPLETED":
            return Exit(0, ended_at=ended_at)
        return Exit(None, ended_at=ended_at,
                    reason=f"Slurm: job {key} failed ({info.reason or 'no reason given'}) before "
                           "the run wrote an exit status; see the end of its log")
    why = _ENDED_WHY.get(state, f"job ended in state {state}")
    limit = f" ({info.time_limit})" if info.time_limit and state == "TIMEOUT" else ""
    reason = "Slurm: " + why.format(limit=limit)
    if state == "CANCELLED":
        return Exit(code, reason=reason, ended_at=ended_at, cancelled=True)
    if code is not None and status is not None and status.reason != describe_code(code):
        reason += f"; the run: {status.reason}"
    return Exit(code, reason=reason, ended_at=ended_at)
