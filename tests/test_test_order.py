"""The suite's own schedule (tests/conftest.py): under pytest-xdist each worker starts on its own
share of the slowest tests."""

from __future__ import annotations

from tests.conftest import dealt


def _xdist_blocks(items: list, workers: int) -> list[list]:
    """How pytest-xdist's worksteal hands out the collection at the start: one contiguous block
    per worker, `len(pending) // workers_left` each (xdist/scheduler/worksteal.py)."""
    blocks, pending = [], list(items)
    for left in range(workers, 0, -1):
        blocks.append(pending[:len(pending) // left])
        del pending[:len(pending) // left]
    return blocks


def test_each_worker_starts_on_one_of_the_slowest() -> None:
    slowest_first = list(range(9))
    assert dealt(slowest_first, 3) == [0, 3, 6, 1, 4, 7, 2, 5, 8]
    assert [block[0] for block in _xdist_blocks(dealt(slowest_first, 3), 3)] == [0, 1, 2]
    assert dealt(slowest_first, 1) == slowest_first  # one process: the order as sorted
    assert dealt([], 3) == []


def test_uneven_counts_keep_every_test_once_and_still_start_each_worker_on_a_slow_one() -> None:
    for count in (7, 8, 10, 11):
        order = dealt(list(range(count)), 3)
        assert sorted(order) == list(range(count))
        assert [block[0] for block in _xdist_blocks(order, 3)] == [0, 1, 2]
