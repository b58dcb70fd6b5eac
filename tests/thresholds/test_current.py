"""The current thresholds without Spark: read from a real Delta table (newest row per series), re-read after the
refresh period, used by the alert policy (threshold gate, weekly budget, ceiling) and by the stream's scorer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch.alerts.policy import PENDING, SUPPRESSED, AlertState, Event, plan, week_start
from lakewatch.alerts.rules import alerts_settings
from lakewatch.config import load_config
from lakewatch.event_ids import event_id
from lakewatch.schemas import OPS_THRESHOLDS
from lakewatch.streaming.scoring import SeriesScorer
from lakewatch.streaming.state import SeriesState
from lakewatch.thresholds.current import ThresholdBook, read_current

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
SET_AT = datetime(2026, 1, 12, 9, tzinfo=UTC)


def threshold_rows(location, rows: list[tuple[str, float, datetime, str]]) -> None:
    """Append ops.thresholds rows (series, threshold, set_at, run_id) for channel 'value', detector 'det'."""
    table = pa.Table.from_pylist([
        {"series_id": s, "channel": "value", "detector": "det", "threshold": t, "previous": None,
         "default_threshold": 0.6, "reason": "test", "false_positives": 1, "true_positives": 0, "events": 1,
         "worst_week_events": 1, "set_by": "test", "set_at": at, "run_id": run, "git_commit": None,
         "config_hash": None} for s, t, at, run in rows], schema=to_arrow_schema(OPS_THRESHOLDS))
    write_deltalake(str(location), table, mode="append")


def event(series: str, start: datetime, peak: float) -> Event:
    return Event(event_id(series, "value", start, "det", "v1"), series, "value", start, start, start, peak, 1, False,
                 "det", "v1")


def test_the_newest_row_per_series_counts_and_the_book_rereads_after_its_refresh(tmp_path):
    location = tmp_path / "ops" / "thresholds"
    book = ThresholdBook(str(location), 0.6, refresh_seconds=0.5, ceiling=0.999, budget_per_week=2)
    assert book.threshold("a", "value", "det") == 0.6  # no table yet: the default
    threshold_rows(location, [("a", 0.8, SET_AT, "r1"), ("a", 0.7, SET_AT - timedelta(days=1), "r0"),
                              ("b", 0.65, SET_AT, "r1")])
    assert read_current(str(location)) == {("a", "value", "det"): 0.8, ("b", "value", "det"): 0.65}
    assert book.threshold("a", "value", "det") == 0.6  # the cached copy, younger than the refresh period
    time.sleep(0.6)
    assert book.threshold("a", "value", "det") == 0.8
    assert book.threshold("a", "other", "det") == 0.6 and book.threshold("a", "value", "det2") == 0.6
    threshold_rows(location, [("a", 0.9, SET_AT + timedelta(hours=1), "r2")])
    book.refresh()
    assert book.threshold("a", "value", "det") == 0.9


def test_the_policy_gates_by_series_threshold_caps_a_week_by_budget_and_lets_the_ceiling_through(tmp_path):
    location = tmp_path / "thresholds"
    threshold_rows(location, [("pump", 0.8, SET_AT, "r1")])
    book = ThresholdBook(str(location), 0.0, refresh_seconds=60, ceiling=0.999, budget_per_week=2)
    settings = alerts_settings(load_config("local", [
        "alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:9/x'}}",
        "alerts.rules=[{name: all, channels: hook}]"]))
    hour = timedelta(hours=1)
    events = [event("pump", MONDAY, 0.75),              # below pump's threshold: no match
              event("pump", MONDAY + hour, 0.85),       # 1st of the week
              event("pump", MONDAY + 2 * hour, 0.9),    # 2nd
              event("pump", MONDAY + 3 * hour, 0.95),   # over budget
              event("pump", MONDAY + 4 * hour, 0.9995),  # at the ceiling: always
              event("pump", MONDAY + timedelta(days=7), 0.85),  # a new week
              event("fan", MONDAY, 0.3)]                # no row: only the rules gate it
    state = AlertState()
    alerts = plan(events, settings, state, book)
    decided = [(a.series_id, round(a.payload["event"]["peak_score"], 4), a.status, a.reason) for a in alerts]
    assert decided == [("fan", 0.3, PENDING, ""), ("pump", 0.85, PENDING, ""), ("pump", 0.9, PENDING, ""),
                       ("pump", 0.95, SUPPRESSED, "budget"), ("pump", 0.9995, PENDING, ""),
                       ("pump", 0.85, PENDING, "")]
    assert len(state.week_notified[("pump", week_start(MONDAY + hour))]) == 3
    # the gated event rises above the threshold: it matches now, and is suppressed as the week's budget is spent
    risen = plan([event("pump", MONDAY, 0.82)], settings, state, book)
    assert [(a.status, a.reason) for a in risen] == [(SUPPRESSED, "budget")]
    # without a book the same events all notify
    assert {a.status for a in plan(events, settings, AlertState())} == {PENDING}


def test_the_scorer_flags_each_series_at_its_own_threshold(tmp_path):
    location = tmp_path / "thresholds"
    threshold_rows(location, [("pump", 0.9, SET_AT, "r1")])

    class Constant:  # a detector whose every score is the reading itself (scores are in [0, 1])
        def new_state(self):
            return b""

        def update(self, state, values, timestamps):
            return np.asarray(values, dtype=float), state

        def state_to_bytes(self, state):
            return b""

    book = ThresholdBook(str(location), 0.6, refresh_seconds=60, ceiling=0.999, budget_per_week=2)
    scorer = SeriesScorer(Constant(), 0.6, book=book, detector_name="det")
    ts = np.arange(4, dtype=np.int64) * 60_000_000_000
    values = np.array([0.5, 0.7, 0.95, 0.2])
    pump = scorer.step(SeriesState(), ts, values, threshold=scorer.threshold_of("pump", "value"))
    fan = scorer.step(SeriesState(), ts, values, threshold=scorer.threshold_of("fan", "value"))
    assert pump.flags.tolist() == [False, False, True, False] and pump.threshold == 0.9
    assert fan.flags.tolist() == [False, True, True, False] and fan.threshold == 0.6
    assert SeriesScorer(Constant(), 0.6).threshold_of("pump", "value") == 0.6  # no book: the one threshold


def test_an_unreadable_table_keeps_the_last_thresholds_read_and_says_so(tmp_path, capsys):
    location = tmp_path / "thresholds"
    threshold_rows(location, [("a", 0.8, SET_AT, "r1")])
    book = ThresholdBook(str(location), 0.6, refresh_seconds=0, ceiling=0.999, budget_per_week=2)
    assert book.threshold("a", "value", "det") == 0.8
    for entry in (location / "_delta_log").iterdir():
        if entry.is_file():
            entry.write_text("not json")  # a corrupt log: deltalake cannot read the table
    assert book.threshold("a", "value", "det") == 0.8
    assert f"cannot read the thresholds at {location}" in capsys.readouterr().err
