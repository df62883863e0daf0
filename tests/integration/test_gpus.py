"""GPU placement: each run gets its own ids in CUDA_VISIBLE_DEVICES.

No GPU exists on the test machines. Declared ids exercise placement; for detection, a
stand-in `nvidia-smi` on PATH prints output in the documented query format (the double of
a binary that cannot exist here).
"""

import os

from tests.helpers import wait_for
from tests.standins import nvidia_smi


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
    bin_dir = nvidia_smi(tmp_path / "bin")
    cli.env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    targets = cli.json("targets", "--json")["targets"]
    local = next(t for t in targets if t["name"] == "local")
    assert local["gpu_ids"] == [0, 1] and local["gpu_info"][0]["name"] == "NVIDIA A100-SXM4-80GB"
    run_id = cli.launch("sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES"', opts=("--gpus", "2"))
    cli("wait", str(run_id))
    assert _devices(cli, run_id) == "0,1"
    refused = cli("launch", "--gpus", "3", "--", "true", check=False)
    assert refused.returncode == 3 and "has 2 GPUs; the run asks for 3" in refused.stderr
