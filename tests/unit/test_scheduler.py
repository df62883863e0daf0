"""Placement: max_parallel, distinct GPU ids, strict FIFO within priority per target."""

from core.engine.scheduler import Busy, Capacity, Waiting, fits, place


def caps(**kw):
    return {"local": Capacity("local", kw.get("max_parallel", 4), kw.get("gpus", ()),
                              kw.get("share", 1))}


def test_max_parallel():
    out = place([Waiting(i, "local", 0) for i in range(1, 6)], [Busy("local")], caps(max_parallel=3))
    assert [p.run_id for p in out] == [1, 2]


def test_gpus_are_distinct_and_not_shared():
    out = place([Waiting(1, "local", 2), Waiting(2, "local", 1), Waiting(3, "local", 2)],
                [Busy("local", (1,))], caps(gpus=(0, 1, 2, 3)))
    assert [(p.run_id, p.gpu_ids) for p in out] == [(1, (0, 2)), (2, (3,))]


def test_a_gpu_run_waiting_holds_back_later_gpu_runs_but_not_cpu_runs():
    out = place([Waiting(1, "local", 3), Waiting(2, "local", 1), Waiting(3, "local", 0)],
                [Busy("local", (0, 1))], caps(gpus=(0, 1, 2, 3)))
    assert [p.run_id for p in out] == [3]


def test_a_full_target_starts_nothing():
    out = place([Waiting(1, "local", 0), Waiting(2, "local", 0)], [Busy("local")] * 2,
                caps(max_parallel=2))
    assert out == []


def test_priority_then_id():
    out = place([Waiting(1, "local", 0), Waiting(2, "local", 0, priority=5)], [],
                caps(max_parallel=1))
    assert [p.run_id for p in out] == [2]


def test_gpu_share():
    out = place([Waiting(i, "local", 1) for i in range(1, 5)], [], caps(gpus=(0, 1), share=2))
    assert sorted(p.gpu_ids for p in out) == [(0,), (0,), (1,), (1,)]


def test_impossible_requests_are_named():
    assert "has 2 GPUs; the run asks for 3" in fits(Capacity("local", 4, (0, 1)), 3)
    assert fits(Capacity("local", 4, (0, 1)), 2) is None


def test_a_retry_after_running_out_of_gpu_memory_prefers_other_gpus():
    out = place([Waiting(1, "local", 1, avoid=(0,))], [], caps(gpus=(0, 1)))
    assert out[0].gpu_ids == (1,)
    out = place([Waiting(1, "local", 1, avoid=(0,))], [Busy("local", (1,))], caps(gpus=(0, 1)))
    assert out[0].gpu_ids == (0,), "the avoided GPU is still taken when nothing else is free"
