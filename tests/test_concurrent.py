"""lakewatch.concurrent: independent actions run at once, results in order, failures never swallowed."""

from __future__ import annotations

import threading

import pytest

from lakewatch.concurrent import in_background, run_together


def test_results_come_back_in_argument_order() -> None:
    assert run_together(lambda: 1, lambda: "two", lambda: [3]) == [1, "two", [3]]


def test_actions_overlap() -> None:
    # Each action waits for the other to start: only possible when they run at the same time.
    barrier = threading.Barrier(2, timeout=10)
    assert run_together(barrier.wait, barrier.wait) is not None


def test_every_action_finishes_before_the_first_failure_is_raised() -> None:
    finished = threading.Event()

    def slow_success() -> None:
        threading.Event().wait(0.2)
        finished.set()

    def failure() -> None:
        raise ValueError("bad table")

    with pytest.raises(ValueError, match="bad table"):
        run_together(failure, slow_success)
    assert finished.is_set()


def test_background_action_gives_its_result_or_error() -> None:
    assert in_background(lambda: 42).result(timeout=10) == 42
    failing = in_background(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=10)
