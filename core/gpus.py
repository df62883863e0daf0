"""GPU inventory: detection with nvidia-smi, and the parsing shared by local and remote targets."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

QUERY_FIELDS = "index,uuid,name,memory.total,memory.used,utilization.gpu"
QUERY_ARGS = ["--query-gpu=" + QUERY_FIELDS, "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    name: str
    memory_total_mb: float | None
    memory_used_mb: float | None
    utilization_pct: float | None

    def to_dict(self) -> dict:
        return {"index": self.index, "uuid": self.uuid, "name": self.name,
                "memory_total_mb": self.memory_total_mb, "memory_used_mb": self.memory_used_mb,
                "utilization_pct": self.utilization_pct}


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return None          # "[N/A]", "[Not Supported]"


def parse_query(text: str) -> list[Gpu]:
    """Parse `nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits` output."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6 or not parts[0].isdigit():
            continue
        gpus.append(Gpu(index=int(parts[0]), uuid=parts[1], name=", ".join(parts[2:-3]),
                        memory_total_mb=_number(parts[-3]), memory_used_mb=_number(parts[-2]),
                        utilization_pct=_number(parts[-1])))
    return gpus


def detect(timeout: float = 10.0) -> tuple[list[Gpu], str | None]:
    """The GPUs of this machine, and why there are none when detection failed.

    No nvidia-smi on PATH means no GPUs, which is normal and not an error.
    """
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return [], None
    try:
        proc = subprocess.run([binary, *QUERY_ARGS], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi failed: {exc}"
    if proc.returncode != 0:
        return [], f"nvidia-smi exited {proc.returncode}: {proc.stderr.strip()[:200]}"
    return parse_query(proc.stdout), None
