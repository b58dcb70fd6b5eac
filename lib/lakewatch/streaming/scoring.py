"""The stateful step of the score stream: one call per series and micro-batch, vectorised over its rows.

:class:`SeriesScorer` is pure (numpy in, numpy/pandas out) so it is tested without Spark;
:func:`group_function` wraps it as the function ``applyInPandasWithState`` runs per (series_id, channel).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from lakewatch.detectors.base import Detector
from lakewatch.streaming.entities import ENTITY_CHANNEL, EntityScorer, rejected_detail
from lakewatch.streaming.events import EventUpdate, Explanation, advance_events
from lakewatch.streaming.explaining import Explainer
from lakewatch.streaming.packing import ENTITY_RULE
from lakewatch.streaming.state import NO_TIME, SeriesKey, SeriesState, read_bucket, write_bucket
from lakewatch.thresholds.current import ThresholdBook

if TYPE_CHECKING:
    from lakewatch.alerts.operator import OperatorAlerts

# Output row kinds. An event row is a new event (appended) or a later version of one written before (merged).
KIND_SCORE, KIND_LATE, KIND_EVENT, KIND_EVENT_UPDATE = "score", "late", "event", "event_update"
# Readings of a multichannel entity kept out of scoring (lakewatch.streaming.entities); detail: reason, message.
KIND_REJECTED = "rejected"

# PySpark's applyInPandasWithState serializer concatenates the group frames, whose attribution and detail
# columns are all null on most rows; pandas warns about that on every micro-batch in every Python worker
# (this module is imported there). The frames are typed by OUTPUT_SCHEMA, so the warning has no effect here.
warnings.filterwarnings("ignore", message="The behavior of DataFrame concatenation with empty or all-NA entries",
                        category=FutureWarning)

# What the stateful operator emits, packed like its input: per series and micro-batch one 'score' row with the
# scored points as arrays, one 'late' row with the late points, and one row per event version (arrays of one:
# start, peak score, its attributions and base value). Timestamps travel as epoch microseconds so no time zone is
# involved between Python and the JVM. `attributions` and `base_value` are null on a score row without
# explanations; the fields only late rows and events need travel as a JSON `detail`.
OUTPUT_SCHEMA = T.StructType([
    T.StructField("kind", T.StringType()),
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_us", T.ArrayType(T.LongType())),
    T.StructField("value", T.ArrayType(T.DoubleType())),
    T.StructField("score", T.ArrayType(T.DoubleType())),
    T.StructField("flag", T.ArrayType(T.BooleanType())),
    T.StructField("attributions", T.ArrayType(T.StringType())),
    T.StructField("base_value", T.ArrayType(T.DoubleType())),
    T.StructField("detail", T.StringType()),
])
# `detail` of an event row.
EVENT_DETAIL_SCHEMA = T.StructType([
    T.StructField("end_us", T.LongType()),
    T.StructField("peak_us", T.LongType()),
    T.StructField("points", T.LongType()),
    T.StructField("is_open", T.BooleanType()),
    T.StructField("threshold", T.DoubleType()),  # the series' flag threshold when the batch scored it
    T.StructField("detector", T.StringType()),  # an entity's detector and model version (the query's when null)
    T.StructField("model_version", T.StringType()),
])


@dataclass(frozen=True)
class StepOutput:
    """What one series' micro-batch produced (timestamps in epoch ns, rows in scoring order)."""

    timestamps: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    flags: np.ndarray
    explanations: dict[int, Explanation]
    late_timestamps: np.ndarray
    late_values: np.ndarray
    events: list[EventUpdate]
    state: SeriesState
    threshold: float = float("nan")  # the flag threshold the step used
    alerts: tuple[list[dict[str, Any]], ...] = ()  # per event of `events`: what the operator sent for it


class SeriesScorer:
    """Scores one series' micro-batch against its state: ordering, lateness, detector, flags, SHAP, events."""

    def __init__(self, detector: Detector, threshold: float, watermark_ns: int = 0, max_lateness_ns: int = 0,
                 event_gap_rows: int = 0, explainer: Explainer | None = None, book: ThresholdBook | None = None,
                 detector_name: str = "", alerts: OperatorAlerts | None = None) -> None:
        self.detector = detector
        self.alerts = alerts  # alerts sent from the operator the moment it flags (lakewatch.alerts.operator)
        self.threshold = float(threshold)
        self.book = book  # per-series thresholds (ops.thresholds), re-read every book.refresh_seconds
        self.detector_name = detector_name
        self.watermark_ns = int(watermark_ns)
        self.max_lateness_ns = int(max_lateness_ns)
        self.event_gap_rows = int(event_gap_rows)
        self.explainer = explainer

    def threshold_of(self, series_id: str, channel: str) -> float:
        """The flag threshold of a series now: its current row in ops.thresholds (via the book), else the default."""
        if self.book is None:
            return self.threshold
        return self.book.threshold(series_id, channel, self.detector_name)

    def step(self, state: SeriesState, timestamps: np.ndarray, values: np.ndarray, flush: bool = False,
             threshold: float | None = None) -> StepOutput:
        """Score the rows of one micro-batch (any order) of one series; ``flush`` also scores held-back rows;
        ``threshold`` (default: the scorer's) flags the scores at or above it.

        Rows at or before the series' last scored timestamp minus the allowed lateness come back as late; rows
        newer than (newest seen - watermark) are held in the returned state; the rest are scored in timestamp
        order after the rows already held.
        """
        ts = np.asarray(timestamps, dtype=np.int64)
        vals = np.asarray(values, dtype=np.float64)
        late = self._late_mask(state, ts)
        kept_ts, kept_vals = ts[~late], vals[~late]
        max_seen = max(state.max_seen_ns, int(kept_ts.max())) if len(kept_ts) else state.max_seen_ns
        pool_ts = np.concatenate([state.held_ts, kept_ts]) if len(state.held_ts) else kept_ts
        pool_vals = np.concatenate([state.held_values, kept_vals]) if len(state.held_ts) else kept_vals
        release = np.ones(len(pool_ts), bool) if flush or self.watermark_ns == 0 else (
            pool_ts <= max_seen - self.watermark_ns)
        order = np.argsort(pool_ts[release], kind="stable")
        run_ts, run_vals = pool_ts[release][order], pool_vals[release][order]
        det_state = self.detector.new_state() if state.is_new else self.detector.state_from_bytes(state.detector)
        trail = state.trail
        explanations: dict[int, Explanation] = {}
        threshold = self.threshold if threshold is None else float(threshold)
        if len(run_ts):
            if self.explainer is not None:
                scores, det_state, explanations, trail = self.explainer.score(self.detector, trail, det_state,
                                                                              run_vals, run_ts, threshold)
            else:
                scores, det_state = self.detector.update(det_state, run_vals, run_ts)
            flags = scores >= threshold
        else:
            scores, flags = np.empty(0), np.zeros(0, bool)
        events, open_event = advance_events(state.open_event, run_ts, scores, flags, explanations,
                                            self.event_gap_rows)
        last_scored = max(state.last_scored_ns, int(run_ts.max())) if len(run_ts) else state.last_scored_ns
        new_state = SeriesState(
            detector=self.detector.state_to_bytes(det_state), trail=trail, last_scored_ns=last_scored,
            max_seen_ns=max_seen, held_ts=pool_ts[~release], held_values=pool_vals[~release],
            open_event=open_event, rows_scored=state.rows_scored + len(run_ts))
        return StepOutput(run_ts, run_vals, scores, flags, explanations, ts[late], vals[late], events, new_state,
                          threshold)

    def send_alerts(self, series_id: str, channel: str, before: SeriesState, out: StepOutput) -> StepOutput:
        """`out` with what the operator sent for its events (:class:`~lakewatch.alerts.operator.OperatorAlerts`):
        each new event, or one whose severity rose against its version in `before`, notified now."""
        if self.alerts is None or not out.events or not self.alerts.active:
            return out
        ceiling = self.book.ceiling if self.book is not None and self.book.enabled else None
        sent = []
        for update in out.events:
            previous = None if update.is_new else before.open_event
            sent.append(self.alerts.send(self.alerts.decide(series_id, channel, update.event, update.is_open,
                                                            previous, ceiling)))
        return replace(out, alerts=tuple(sent))

    def _late_mask(self, state: SeriesState, ts: np.ndarray) -> np.ndarray:
        if state.last_scored_ns == NO_TIME:
            return np.zeros(len(ts), bool)
        return ts <= state.last_scored_ns - self.max_lateness_ns


def output_frame(series_id: str, channel: str, out: StepOutput, last_scored_ns: int) -> pd.DataFrame:
    """The OUTPUT_SCHEMA rows of one step (:func:`output_rows`) as a DataFrame."""
    return rows_frame(output_rows(series_id, channel, out, last_scored_ns))


def late_row(series_id: str, channel: str, timestamps_ns: np.ndarray, values: np.ndarray,
             last_scored_ns: int) -> tuple[Any, ...]:
    """The OUTPUT_SCHEMA 'late' row of readings not scored for being late (detail: the last scored time)."""
    return (KIND_LATE, series_id, channel, timestamps_ns // 1000, values, None, None, None, None,
            json.dumps({"last_scored_us": int(last_scored_ns // 1000)}))


def output_rows(series_id: str, channel: str, out: StepOutput, last_scored_ns: int,
                stamp: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    """The OUTPUT_SCHEMA rows of one step: a 'score' row with the scored points, a 'late' row with the late
    points (detail: the last scored time) and an 'event' or 'event_update' row per event version (ts_us = [start],
    score = [peak score]; 'event_update' for an event an earlier batch wrote). `stamp` ({detector, model_version}
    of an entity's detector, which is not the query's) goes in the detail of the score and event rows."""
    rows: list[tuple[Any, ...]] = []
    if len(out.timestamps):
        attributions, base_values = _explanation_arrays(out)
        rows.append((KIND_SCORE, series_id, channel, out.timestamps // 1000, out.values, out.scores, out.flags,
                     attributions, base_values, json.dumps(stamp) if stamp else None))
    if len(out.late_timestamps):
        rows.append(late_row(series_id, channel, out.late_timestamps, out.late_values, last_scored_ns))
    for i, update in enumerate(out.events):
        event = update.event
        sent = out.alerts[i] if i < len(out.alerts) else []
        detail = json.dumps({"end_us": event.end_ns // 1000, "peak_us": event.peak_ns // 1000,
                             "points": event.points, "is_open": update.is_open,
                             **({"threshold": out.threshold} if np.isfinite(out.threshold) else {}),
                             **(stamp or {}), **({"alerts": sent} if sent else {})})
        rows.append((KIND_EVENT if update.is_new else KIND_EVENT_UPDATE, series_id, channel,
                     np.array([event.start_ns // 1000]), None, np.array([event.peak_score]), None,
                     np.array([_attributions_json(event.top)], dtype=object),
                     np.array([np.nan if event.base_value is None else event.base_value]), detail))
    return rows


def rows_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """OUTPUT_SCHEMA rows (tuples in its field order) as the DataFrame a state function yields."""
    columns: dict[str, Any] = {}
    for i, name in enumerate(OUTPUT_SCHEMA.fieldNames()):
        cells = np.empty(len(rows), dtype=object)  # one array per cell (pandas would broadcast a list of them)
        cells[:] = [r[i] for r in rows]
        columns[name] = cells
    return pd.DataFrame(columns)


def _explanation_arrays(out: StepOutput) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Attribution JSON and base value per scored point (None where unexplained); (None, None) if none is."""
    if not out.explanations:
        return None, None
    attributions = np.full(len(out.timestamps), None, dtype=object)
    base_values = np.full(len(out.timestamps), np.nan)
    for i, (base, top) in out.explanations.items():
        attributions[i] = _attributions_json(top)
        base_values[i] = np.nan if base is None else base
    return attributions, base_values


def _attributions_json(top: tuple[tuple[str, float], ...]) -> str | None:
    if not top:
        return None
    return json.dumps([{"input": name, "shap": float(value)} for name, value in top], separators=(",", ":"))


def _step_packed(scorer: SeriesScorer, state: SeriesState, ts_parts: list[Any],
                 value_parts: list[Any], series_id: str = "", channel: str = "") -> StepOutput:
    """One step over a series' packed rows (ts_us and value arrays), at the series' current threshold; the
    alerts its events call for leave from here (SeriesScorer.send_alerts)."""
    ts = np.concatenate(ts_parts).astype(np.int64) * 1000
    out = scorer.step(state, ts, np.concatenate(value_parts).astype(np.float64),
                      threshold=scorer.threshold_of(series_id, channel))
    return scorer.send_alerts(series_id, channel, state, out)


def entity_rows(entities: EntityScorer, series_id: str, state: SeriesState, ts_parts: list[Any],
                value_parts: list[Any], channel_parts: list[Any], rule: int | None = None
                ) -> tuple[SeriesState, list[tuple[Any, ...]]]:
    """One step of the multichannel entity `series_id` (lakewatch.streaming.entities) over its packed rows
    (`rule`: its machine source's rule, if any): the new state and the OUTPUT_SCHEMA rows (channel '*' for the
    scores and events; the readings' own channels for the late and rejected ones, with the reason in `detail`)."""
    out = entities.step(series_id, state, np.concatenate(ts_parts), np.concatenate(value_parts),
                        np.concatenate(channel_parts), rule)
    rows = output_rows(series_id, ENTITY_CHANNEL, out, state.last_scored_ns,  # type: ignore[arg-type]
                       entities.stamp(series_id, rule))
    for channel, ts, values in out.late:
        rows.append(late_row(series_id, channel, ts, values, state.last_scored_ns))
    for item in out.rejected:
        rows.append((KIND_REJECTED, series_id, item.channel, item.timestamps // 1000, item.values, None, None, None,
                     None, rejected_detail(item)))
    return out.state, rows


def _entity_rule(pdf: pd.DataFrame, rule: int | None) -> int | None:
    """The machine source rule of an entity's packed rows (column entity_rule, when present), else `rule`."""
    if ENTITY_RULE.name not in pdf:
        return rule
    found = pdf[ENTITY_RULE.name].dropna()
    return int(found.iloc[0]) if len(found) else rule


def group_function(scorer: SeriesScorer, entities: EntityScorer | None = None) -> Callable[..., Iterator[pd.DataFrame]]:
    """The function applyInPandasWithState calls per (series_id, channel) with packed input rows (ts_us and value
    arrays, lakewatch.streaming.packing).

    It scores the group's points with one detector update and stores the new state. (No timeouts: a
    processing-time timeout makes Spark run a batch on every trigger, so availableNow would never finish;
    rows held back by the watermark are scored when newer rows of their series arrive.) A group keyed
    (series_id, '*') is a multichannel entity, scored by `entities` (:func:`entity_rows`).
    """
    def score_group(key: tuple[Any, ...], frames: Iterator[pd.DataFrame], state: Any) -> Iterator[pd.DataFrame]:
        series_id, channel = str(key[0]), str(key[1])
        current = SeriesState.from_row(state.get) if state.exists else SeriesState()
        ts_parts: list[np.ndarray] = []
        value_parts: list[np.ndarray] = []
        channel_parts: list[np.ndarray] = []
        entity = entities is not None and channel == ENTITY_CHANNEL
        rule = None
        for pdf in frames:
            ts_parts.extend(pdf["ts_us"])
            value_parts.extend(pdf["value"])
            if entity:
                channel_parts.extend(pdf["source_channel"])
                rule = _entity_rule(pdf, rule)
        if entity:
            new_state, rows = entity_rows(entities, series_id, current, ts_parts, value_parts, channel_parts, rule)
            state.update(new_state.to_row())
            yield rows_frame(rows)
            return
        out = _step_packed(scorer, current, ts_parts, value_parts, series_id, channel)
        state.update(out.state.to_row())
        yield output_frame(series_id, channel, out, current.last_scored_ns)

    return score_group


def bucket_function(scorer: SeriesScorer, entities: EntityScorer | None = None
                    ) -> Callable[..., Iterator[pd.DataFrame]]:
    """The function applyInPandasWithState calls per bucket of series (``streaming.state_buckets``) with the
    packed rows of the bucket's series: each series present is stepped as :func:`group_function` would, and the
    bucket's state (every series' state, lakewatch.streaming.state.read_bucket) is stored once; entities (key
    channel '*') are stepped by `entities`."""
    def score_bucket(key: tuple[Any, ...], frames: Iterator[pd.DataFrame], state: Any) -> Iterator[pd.DataFrame]:
        states = read_bucket(state.get) if state.exists else {}
        packed: dict[SeriesKey, tuple[list[Any], list[Any], list[Any]]] = {}
        rules: dict[SeriesKey, int] = {}
        for pdf in frames:
            sources = pdf["source_channel"] if entities is not None else [None] * len(pdf)
            for series_id, channel, ts, values, source in zip(pdf["series_id"], pdf["channel"], pdf["ts_us"],
                                                              pdf["value"], sources, strict=True):
                parts = packed.setdefault((str(series_id), str(channel)), ([], [], []))
                parts[0].append(ts)
                parts[1].append(values)
                parts[2].append(source)
            if entities is not None and ENTITY_RULE.name in pdf:
                for series_id, channel, rule in zip(pdf["series_id"], pdf["channel"], pdf[ENTITY_RULE.name],
                                                    strict=True):
                    if pd.notna(rule):
                        rules[(str(series_id), str(channel))] = int(rule)
        rows: list[tuple[Any, ...]] = []
        for (series_id, channel), (ts_parts, value_parts, channel_parts) in packed.items():
            row = states.get((series_id, channel))
            current = SeriesState.from_row(row) if row is not None else SeriesState()
            if entities is not None and channel == ENTITY_CHANNEL:
                new_state, entity_out = entity_rows(entities, series_id, current, ts_parts, value_parts,
                                                    channel_parts, rules.get((series_id, channel)))
                states[(series_id, channel)] = new_state.to_row()
                rows.extend(entity_out)
                continue
            out = _step_packed(scorer, current, ts_parts, value_parts, series_id, channel)
            states[(series_id, channel)] = out.state.to_row()
            rows.extend(output_rows(series_id, channel, out, current.last_scored_ns))
        state.update(write_bucket(states))
        yield rows_frame(rows)

    return score_bucket
