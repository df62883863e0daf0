"""The batch script runyard gives sbatch: one run, or one run per task of a job array.

Each task sets its run's environment and execs runwrap.sh, so the run is wrapped exactly as
a local one (pid file, exit_status "CODE<TAB>REASON" written atomically):

    #!/bin/sh
    case ${SLURM_ARRAY_TASK_ID-} in
    0)
        export RUNYARD_RUN_ID='12' ...
        exec sh '/store/slurm/bin/runwrap-ab12.sh' '/store/runs/12' '/store/runs/12/code' \
            -- 'python' 'train.py' < /dev/null
        ;;
    ...

The job's own environment is what sbatch exports (the submitting process's); the script adds
the run's variables on top. Variables that belong to Slurm or to the submitting shell's
session are never exported into a job (see SKIPPED).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.remote.scripts import quote

# From the launching shell's environment, these stay out of a job: Slurm sets its own, and
# the others describe the shell's session, not the job's.
SKIPPED_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "PMI_", "PMIX_", "OMPI_")
SKIPPED_NAMES = frozenset({"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL",
                           "PWD", "OLDPWD", "SHLVL", "_", "TMPDIR", "HOSTNAME", "SSH_AUTH_SOCK",
                           "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "DISPLAY", "TERM"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Task:
    """One run inside a job: its folder, working folder, environment and command."""

    run_id: int
    run_dir: str          # absolute, on the cluster's filesystem
    workdir: str
    env: dict[str, str]
    command: list[str]


def job_env(env: dict[str, str], explicit: set[str]) -> dict[str, str]:
    """The variables to export in the job: `explicit` ones (runyard's, --env, [run] env)
    always; the launching shell's minus Slurm's and the session's own."""
    out = {}
    for name, value in env.items():
        if not _NAME.match(name):
            continue                        # exported shell functions and such
        if name not in explicit and (name in SKIPPED_NAMES or name.startswith(SKIPPED_PREFIXES)):
            continue
        out[name] = value
    return out


def batch_script(tasks: list[Task], wrapper: str, label: str) -> str:
    """The script for one job (one task) or a job array (task i runs tasks[i])."""
    lines = ["#!/bin/sh", f"# runyard: {label}"]
    if len(tasks) == 1:
        lines += _task_lines(tasks[0], wrapper, "")
        return "\n".join(lines) + "\n"
    lines.append('case "${SLURM_ARRAY_TASK_ID-}" in')
    for index, task in enumerate(tasks):
        lines.append(f"{index})")
        lines += _task_lines(task, wrapper, "    ")
        lines.append("    ;;")
    lines += ["esac",
              'echo "runyard: array task ${SLURM_ARRAY_TASK_ID-?} has no run" >&2',
              "exit 1"]
    return "\n".join(lines) + "\n"


def _task_lines(task: Task, wrapper: str, indent: str) -> list[str]:
    lines = [f"{indent}export {name}={quote(value)}" for name, value in sorted(task.env.items())]
    argv = " ".join(quote(a) for a in task.command)
    lines.append(f"{indent}exec sh {quote(wrapper)} {quote(task.run_dir)} {quote(task.workdir)} "
                 f"-- {argv} < /dev/null")
    return lines
