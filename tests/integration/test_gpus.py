"""GPU placement: each run gets its own ids in CUDA_VISIBLE_DEVICES.

No GPU exists on the test machines. Declared ids exercise placement; for detection, a
stand-in `nvidia-smi` on PATH prints output in the documented query format (the double of
a binary that cannot exist here).
"""

import os
import stat

from tests.helpers import wait_for

STAND_IN = """#!/bin/sh
# Stand-in for nvidia-smi (no GPU here): the documented CSV query format, recorded.
cat <<'OUT'
0, GPU-7f1d2a1e-0b43-9e1e-5c0a-1d6b8e1f2a3b, NVIDIA A100-SXM4-80GB, 81920, 1, 0
1, GPU-9a8b7c6d-5e4f-3a2b-1c0d-9e8f7a6b5c4d, NVIDIA A100-SXM4-80GB, 81920, 1, 0
OUT
"""


def _devices(cli, run_id):
    return cli("logs", str(run_id)).stdout.strip()


def test_declared_gpus_are_never_shared(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\ngpus = [0, 1, 2, 3]\nmax_parallel = 8\n")
    ids = [cli.launch("sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES"; sleep 300', opts=("--gpus", "2"))
           for _ in range(3)]
    wait_for(lambda: all(_devices(cli, i) for i in ids[:2]), what="two runs to print their GPUs")
    first, second = (set(_devices(cli, i).split(",")) for i in ids[:2])
    assert len(first) == 2 and len(second) == 2 and not first & second
    assert cli.run(ids[2])["state"] == "queued", "no GPUs left for the third run"
    assert sorted(cli.run(ids[0])["gpus"] + cli.run(ids[1])["gpus"]) == [0, 1, 2, 3]
    cpu = cli.launch("sh", "-c", 'echo "[$CUDA_VISIBLE_DEVICES]"')
    cli("wait", str(cpu))
    assert _devices(cli, cpu) == "[]", "a run without GPUs sees none"
    cli("cancel", str(ids[0]))
    wait_for(lambda: _devices(cli, ids[2]), what="the third run to get the freed GPUs")
    assert set(_devices(cli, ids[2]).split(",")) == first
    cli("cancel", str(ids[1]), str(ids[2]))


def test_detected_gpus_with_a_stand_in_nvidia_smi(cli, env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(STAND_IN)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    cli.env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    targets = cli.json("targets", "--json")["targets"]
    local = next(t for t in targets if t["name"] == "local")
    assert local["gpu_ids"] == [0, 1] and local["gpu_info"][0]["name"] == "NVIDIA A100-SXM4-80GB"
    run_id = cli.launch("sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES"', opts=("--gpus", "2"))
    cli("wait", str(run_id))
    assert _devices(cli, run_id) == "0,1"
    refused = cli("launch", "--gpus", "3", "--", "true", check=False)
    assert refused.returncode == 3 and "has 2 GPUs; the run asks for 3" in refused.stderr
