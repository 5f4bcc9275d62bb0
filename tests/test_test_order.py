"""The suite's own schedule (tests/conftest.py): under pytest-xdist each worker starts on its own
share of the slowest tests."""

from __future__ import annotations

from tests.conftest import TINY_PROJECT_BUILD_S, dealt, first_round


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


def test_each_test_goes_to_the_part_with_the_least_time_dealt_so_far() -> None:
    seconds = {"a": 100, "b": 60, "c": 50, "d": 40, "e": 0, "f": 0}
    order = dealt(list(seconds), 2, seconds.get)
    assert order == ["a", "d", "f", "b", "c", "e"]  # round-robin would give a, c, e, b, d, f
    assert sum(seconds[name] for name in order[:3]) == 140 and sum(seconds[name] for name in order[3:]) == 110


def test_one_worker_waits_for_the_tiny_project_while_the_others_start_on_tests_that_do_not() -> None:
    seconds = {"dead": 215, "alerts": 210, "queue": 195, "shift": 150, "train": 75, "unit": 0}
    waits = {"dead", "alerts", "queue"}.__contains__
    order = dealt(list(seconds), 3, seconds.get, waits)
    assert order == ["dead", "unit", "shift", "queue", "train", "alerts"]
    assert [block[0] for block in _xdist_blocks(order, 3)] == ["dead", "shift", "train"]


def test_the_first_to_wait_for_the_tiny_project_carries_its_build() -> None:
    seconds = {"w": 100, "f1": 90, "f2": 50, "f3": 45, "u1": 0, "u2": 0}
    assert TINY_PROJECT_BUILD_S > 15  # w's part (100 + the build) has more dealt than f1, f2 (140)
    assert dealt(list(seconds), 2, seconds.get, {"w"}.__contains__) == ["w", "u1", "u2", "f1", "f2", "f3"]
    assert dealt(list(seconds), 2, seconds.get) == ["w", "f3", "u2", "f1", "f2", "u1"]  # no build to carry


def test_the_first_round_waits_on_the_build_only_when_nothing_else_is_left() -> None:
    assert first_round(["a", "b", "c"], 2, lambda _: True) == ["a", "b", "c"]
    assert first_round(["a", "b", "c", "d"], 3, {"a", "b"}.__contains__) == ["a", "c", "d", "b"]
    assert first_round(["a", "b", "c"], 3, {"b", "c"}.__contains__) == ["b", "a", "c"]
