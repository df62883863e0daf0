"""A real single-node Slurm cluster (munged, slurmctld, slurmd) for the slurm tests and benchmark.

Everything lives under one folder: a munge key and socket of its own, a generated
slurm.conf (SlurmctldHost = this machine's short hostname at 127.0.0.1, free ports, state,
spool, pid and log files in the folder), and the three daemons, started and stopped by pid. Every
Slurm command and daemon is pointed at the file with SLURM_CONF, so /etc/slurm is never
read or written. Accounting is off (no slurmdbd).

The node declares NODE_CPUS CPUs whatever this machine has (`SlurmdParameters =
config_overrides`), so a handful of short test jobs run side by side on 2 cores; the jobs
sleep and print, they do not compute. EnforcePartLimits=ALL makes sbatch refuse a job
that can never run (more CPUs or memory than the node has) instead of leaving it pending.
Partitions: `debug` (the default) and `short` (a 1-minute limit).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.helpers import free_port, wait_for

DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")
COMMANDS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol", "munge")
CONTROLLER = ["/usr/sbin/slurmctld", "-D", "-i"]
NODE_CPUS = 8
NODE_MEMORY_MB = 4000


def available() -> bool:
    return all(os.path.exists(d) for d in DAEMONS) and \
        all(shutil.which(c) for c in COMMANDS)


class SlurmCluster:
    def __init__(self, root: Path):
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def command_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _write_config(self) -> None:
        r = self.root
        for folder in ("munge", "state", "spool", "log"):
            (r / folder).mkdir(parents=True, exist_ok=True)
        lines = [
            # Addresses given, so a machine whose name does not resolve works too.
            "ClusterName=runyardtest", f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
            "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none", "SlurmdParameters=config_overrides", "EnforcePartLimits=ALL",
            "ReturnToService=2", "MinJobAge=600", "KillWait=3",
            f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} "
            f"RealMemory={NODE_MEMORY_MB} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=short Nodes={self.host} MaxTime=1 State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(r / "munge", 0o711)
        os.chmod(key, 0o400)

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        """Start the daemons in the foreground as our children (so they are reaped), then
        wait until sinfo shows the node idle."""
        self._write_config()
        m = self.root / "munge"
        self._spawn("munged", ["/usr/sbin/munged", "--foreground", "--force",
                               f"--socket={self.munge_socket}", f"--key-file={m / 'munge.key'}",
                               f"--pid-file={m / 'munged.pid'}", f"--log-file={m / 'munged.log'}",
                               f"--seed-file={m / 'munged.seed'}"])
        wait_for(self.munge_socket.exists, timeout=15, interval=0.02,
                 what=lambda: "munged to create its socket:\n" + self.log_tail())
        self._spawn("slurmctld", CONTROLLER)
        self._spawn("slurmd", ["/usr/sbin/slurmd", "-D"])
        wait_for(self._node_idle, timeout=timeout, interval=0.1,
                 what=lambda: "the Slurm node to become idle:\n" + self.log_tail())
        return self

    def _node_idle(self) -> bool:
        """Whether sinfo shows the node idle; a daemon that exited fails at once."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}:\n" + self.log_tail())
        state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
        return bool(state) and all(s == "idle" for s in state)

    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.root / "log" / f"{name}.out", "ab") as out:
            self.processes[name] = subprocess.Popen(argv, env=self.command_env(),
                                                    stdin=subprocess.DEVNULL, stdout=out,
                                                    stderr=out, start_new_session=True)

    def run(self, *argv: str, check: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=self.command_env(), capture_output=True, text=True,
                              check=check, timeout=timeout, stdin=subprocess.DEVNULL)

    def job_field(self, key: str, field: str) -> str | None:
        """One field of `scontrol show job KEY` (JobState, Reason, ...), None if unknown."""
        shown = self.run("scontrol", "-o", "show", "job", key, check=False).stdout
        for word in shown.split():
            name, _, value = word.partition("=")
            if name == field:
                return value
        return None

    def cancel_all(self) -> None:
        """Cancel every job left on the cluster (between tests)."""
        self.run("scancel", "--user=root", check=False)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for log in sorted((self.root / "log").glob("*")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"== {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop_controller(self) -> None:
        """slurmctld goes away (jobs already running go on under slurmd): a cluster whose
        controller does not answer, as after a crash or during its upgrade."""
        self._stop("slurmctld")

    def start_controller(self, timeout: float = 60.0) -> None:
        """slurmctld again, from its saved state; returns once it answers."""
        self._spawn("slurmctld", CONTROLLER)
        wait_for(self._controller_answers, timeout=timeout, interval=0.1,
                 what=lambda: "slurmctld to come back:\n" + self.log_tail())

    def _controller_answers(self) -> bool:
        controller = self.processes["slurmctld"]
        if controller.poll() is not None:
            raise RuntimeError(f"slurmctld exited {controller.returncode}:\n" + self.log_tail())
        return self.run("sinfo", "-h", check=False).returncode == 0

    def stop(self) -> None:
        """slurmd, slurmctld, munged: SIGTERM, a deadline, then SIGKILL; each is reaped."""
        for name in ("slurmd", "slurmctld", "munged"):
            self._stop(name)

    def _stop(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
