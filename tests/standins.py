"""The one stand-in the tests use: `nvidia-smi`, for the GPUs no test machine has.

It prints what the real tool prints for `nvidia-smi --query-gpu=index,uuid,name,
memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits` (the documented
format, recorded for two A100s), so detection, placement and the app's GPU columns run
through runyard's real code. Everything else in the tests is the real thing.
"""

from __future__ import annotations

import stat
from pathlib import Path

GPU_UUIDS = ("GPU-7f1d2a1e-0b43-9e1e-5c0a-1d6b8e1f2a3b", "GPU-9a8b7c6d-5e4f-3a2b-1c0d-9e8f7a6b5c4d")
GPU_NAME = "NVIDIA A100-SXM4-80GB"


def nvidia_smi(folder: Path, memory_used_mb: int = 1, utilization_pct: int = 0) -> Path:
    """Write an executable `nvidia-smi` into `folder` (made if needed); returns the folder,
    to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{index}, {uuid}, {GPU_NAME}, 81920, {memory_used_mb}, {utilization_pct}\n"
                   for index, uuid in enumerate(GPU_UUIDS))
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n# Stand-in for nvidia-smi (no GPU here): the documented CSV "
                      f"query format, recorded.\ncat <<'OUT'\n{rows}OUT\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder
