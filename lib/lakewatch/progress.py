"""Console progress for long jobs: stage, rows, elapsed time, and Spark task progress while a stage runs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pyspark import SparkContext


class Progress:
    """Prints one line per stage start and end, and a heartbeat with Spark's task counts while it runs."""

    def __init__(self, job: str, sc: SparkContext | None = None, heartbeat_s: float = 10.0,
                 stream: TextIO | None = None) -> None:
        self.job = job
        self._sc = sc
        self._heartbeat_s = heartbeat_s
        self._stream = stream or sys.stderr
        self._started = time.monotonic()
        #: The innermost stage an exception left, for the job's error line (None while nothing failed).
        self.failed_stage: str | None = None

    def say(self, message: str) -> None:
        """Print one progress line with the job's elapsed time."""
        elapsed = time.monotonic() - self._started
        print(f"[{self.job} +{elapsed:7.1f}s] {message}", file=self._stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, int]]:
        """Time a stage; the caller may put row counts into the yielded dict to have them printed."""
        counts: dict[str, int] = {}
        self.say(f"{name}: started")
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(name, stop), daemon=True)
        beat.start()
        began = time.monotonic()
        try:
            yield counts
        except BaseException:
            self.failed_stage = self.failed_stage or name
            raise
        finally:
            stop.set()
            beat.join()
        took = time.monotonic() - began
        rows = ", ".join(f"{k}={v:,}" for k, v in counts.items())
        self.say(f"{name}: done in {took:.1f}s" + (f" ({rows})" if rows else ""))

    def _beat(self, name: str, stop: threading.Event) -> None:
        while not stop.wait(self._heartbeat_s):
            self.say(f"{name}: running{self._task_summary()}")

    def _task_summary(self) -> str:
        if self._sc is None:
            return ""
        tracker = self._sc.statusTracker()
        done = total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info:
                done += info.numCompletedTasks
                total += info.numTasks
        return f", Spark tasks {done}/{total}" if total else ""
