"""The current per-series thresholds: the newest row of ops.thresholds per (series_id, channel, detector).

Read with deltalake (no Spark, no JVM), so the stream's Python workers, the alerts and the feedback CLI read alike.
A :class:`ThresholdBook` is small and picklable: the stream ships it to its workers inside the scoring function,
where it re-reads the table at most every ``refresh_seconds`` (a module-level cache per table location, kept
across micro-batches by Spark's reused Python workers), so a recalibration reaches a running stream without a
restart.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from deltalake import DeltaTable

from lakewatch.config import LakewatchConfig
from lakewatch.thresholds.settings import ThresholdSettings, threshold_settings

Key = tuple[str, str, str]  # (series_id, channel, detector)
_CACHE: dict[str, tuple[float, dict[Key, float]]] = {}  # location -> (monotonic time read, thresholds)
_LOCK = threading.Lock()


def thresholds_location(config: LakewatchConfig) -> str:
    """Where ops.thresholds lives, as deltalake wants it (lakewatch.readers.LakeReader.location's rule)."""
    lakehouse = config.lakehouse
    if lakehouse.local_root is not None:
        lakehouse = type(lakehouse)(str(lakehouse.local_root))
    return lakehouse.table(config.tables.ops_thresholds)


def read_current(location: str) -> dict[Key, float]:
    """The current threshold of every (series_id, channel, detector) at `location` ({} before the first run)."""
    if not DeltaTable.is_deltatable(location):
        return {}
    columns = ["series_id", "channel", "detector", "threshold", "set_at", "run_id"]
    rows = DeltaTable(location).to_pyarrow_table(columns=columns).to_pylist()
    newest: dict[Key, dict[str, Any]] = {}
    for row in rows:
        key = (row["series_id"], row["channel"], row["detector"])
        if key not in newest or (row["set_at"], row["run_id"]) > (newest[key]["set_at"], newest[key]["run_id"]):
            newest[key] = row
    return {key: float(row["threshold"]) for key, row in newest.items()}


@dataclass
class ThresholdBook:
    """The thresholds at `location`, re-read at most every `refresh_seconds`; `default` for a series without one
    (and for every series when not `enabled`). Scores at or above `ceiling` always pass."""

    location: str
    default: float
    refresh_seconds: float
    ceiling: float
    budget_per_week: int
    enabled: bool = True

    def current(self) -> dict[Key, float]:
        """Every per-series threshold, re-read when the cached copy is older than `refresh_seconds`."""
        if not self.enabled:
            return {}
        now = time.monotonic()
        with _LOCK:
            cached = _CACHE.get(self.location)
            if cached is None or now - cached[0] >= self.refresh_seconds:
                try:
                    cached = (now, read_current(self.location))
                except Exception as exc:  # an unreadable table must not stop scoring or alerting
                    print(f"[lakewatch] warning: cannot read the thresholds at {self.location} ({exc}); keeping "
                          f"{'the last ones read' if cached else 'the default'}", file=sys.stderr)
                    cached = (now, cached[1] if cached else {})
                _CACHE[self.location] = cached
        return cached[1]

    def threshold(self, series_id: str, channel: str, detector: str) -> float:
        """The threshold flags and alerts of this series use now."""
        return self.current().get((series_id, channel, detector), self.default)

    def refresh(self) -> None:
        """Forget the cached copy, so the next lookup reads the table."""
        with _LOCK:
            _CACHE.pop(self.location, None)


def threshold_book(config: LakewatchConfig, default: float, settings: ThresholdSettings | None = None) -> ThresholdBook:
    """The book of `config`'s ops.thresholds with `default` for series without a row."""
    settings = settings or threshold_settings(config)
    return ThresholdBook(thresholds_location(config), float(default), settings.refresh_seconds, settings.ceiling,
                         settings.budget_per_week, settings.enabled)
