"""nvidia-smi's CSV query output, in the documented format."""

from core.gpus import parse_query

# nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu
#            --format=csv,noheader,nounits
RECORDED = """0, GPU-7f1d2a1e-0b43-9e1e-5c0a-1d6b8e1f2a3b, NVIDIA A100-SXM4-80GB, 81920, 1, 0
1, GPU-9a8b7c6d-5e4f-3a2b-1c0d-9e8f7a6b5c4d, NVIDIA A100-SXM4-80GB, 81920, 40960, 97
2, GPU-00000000-1111-2222-3333-444444444444, Tesla T4, 15360, [N/A], [Not Supported]
"""


def test_parse_query():
    gpus = parse_query(RECORDED)
    assert [g.index for g in gpus] == [0, 1, 2]
    assert gpus[1].memory_used_mb == 40960 and gpus[1].utilization_pct == 97
    assert gpus[2].name == "Tesla T4" and gpus[2].memory_used_mb is None


def test_garbage_gives_no_gpus():
    assert parse_query("No devices were found\n") == []
