"""Running independent Spark actions at once from driver threads.

Much of a small Delta write is driver work (planning, the commit, the catalog), done by one thread
while the cores idle; independent writes to different tables overlap well.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


def run_together(*actions: Callable[[], Any]) -> list[Any]:
    """Run `actions` (independent of each other) in threads; return their results in order.

    Every action runs to its end; if any failed, the first failure (in argument order) is raised.
    """
    if len(actions) <= 1:
        return [action() for action in actions]
    with ThreadPoolExecutor(max_workers=len(actions), thread_name_prefix="lakewatch-action") as pool:
        futures = [pool.submit(action) for action in actions]
        wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]


def in_background(action: Callable[[], Any]) -> Future:
    """Start `action` in its own thread now; the returned future gives its result or raises its error."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakewatch-background")
    future = pool.submit(action)
    pool.shutdown(wait=False)
    return future
