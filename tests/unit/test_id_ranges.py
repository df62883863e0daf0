"""Run ids as ranges (a big launch's compact reply) round-trip, order and gaps kept."""

from core.protocol import expand_ranges, id_ranges


def test_ids_become_ranges_of_consecutive_ids_and_back():
    ids = [5, 6, 7, 9, 3, 4, 100]
    assert id_ranges(ids) == [[5, 7], [9, 9], [3, 4], [100, 100]]
    assert expand_ranges(id_ranges(ids)) == ids
    assert id_ranges(list(range(1, 20_001))) == [[1, 20_000]]
    assert id_ranges([]) == [] and expand_ranges([]) == []
