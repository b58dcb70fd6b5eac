"""Multichannel entities (machines) in the score stream: one state and one multichannel detector per entity.

A series_id matching a pattern of ``streaming.entities.series`` (a glob, mapped to the entity's channel names)
is an entity, and so, by default, is every series of a source that knows its channels (the ``machines`` source,
a wide files source: lakewatch.streaming.entity_sources; the packed rows carry the source's rule,
``entity_rule``). Its readings are keyed (series_id, ``*``) in the state store (``*`` is the project's channel
for "the whole entity", as in gold.drift_metrics), so all its channels meet in one call of the state function.
The configuration (and each reading's source), not the channels that have arrived, decides what is an entity, so
a key never changes between micro-batches or restarts: a channel that is slow to start, or missing from one
micro-batch, cannot move an entity's state from (series_id, channel) to (series_id, ``*``) or split it.

Per micro-batch, :meth:`EntityScorer.step`:

* quarantines readings of a channel not in the entity's list (``entity_unknown_channel``) and non-finite values
  (``entity_non_finite``: that channel is missing from its row); readings at or before the entity's last scored
  row minus ``streaming.max_lateness`` are late, as for a univariate series;
* aligns the entity's pending readings by timestamp with lakewatch.evaluation.entities (``row_starts`` and
  ``align``, tolerance ``entities.tolerance``): one row per instant, NaN for a channel without a reading;
* releases, in time order, every row up to the newest complete row (every channel present), and any row older
  than the entity's newest reading minus ``entities.wait`` (its missing channels stay NaN, which the
  multichannel detectors score from the channels present, ``partial_rows``); the other rows' readings stay in the
  state (at most ``entities.max_held`` readings: beyond that the oldest rows are released as they are);
* quarantines released rows that come before the entity's first complete row ever (``entity_never_aligned``:
  its channels never meet within the tolerance) instead of scoring them;
* scores the released rows with the entity's multichannel detector in one update, flags them, explains flagged
  rows over the channels (lakewatch.explain with ``by_channel``: each sensor's readings over the window's lags
  are one player, so the attributions name sensors and are exact up to 10 channels) and advances the entity's
  anomaly event, exactly as the univariate path does.

The held readings live in the univariate state layout (lakewatch.streaming.state.SeriesState): ``held_ts`` holds
the readings' timestamps followed by their channel indexes, ``held_values`` their values.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lakewatch.config import Fraction, PositiveInt
from lakewatch.detectors.base import Detector
from lakewatch.errors import ConfigError
from lakewatch.evaluation.entities import align, row_starts
from lakewatch.streaming.events import advance_events
from lakewatch.streaming.explaining import Explainer
from lakewatch.streaming.packing import ENTITY_CHANNEL
from lakewatch.streaming.settings import parse_duration
from lakewatch.streaming.state import NO_TIME, SeriesState

UNKNOWN_CHANNEL, NON_FINITE, NEVER_ALIGNED = "entity_unknown_channel", "entity_non_finite", "entity_never_aligned"


@dataclass(frozen=True)
class EntitySettings:
    """``streaming.entities``: which series are multichannel entities and how the stream scores them.

    series: glob of series_id -> the entity's channel names (at least two); the first matching glob counts.
    detector: the multichannel detector ("" = lakewatch_machine, the multichannel default), built with the
        entity's channel count; threshold: its flag threshold (None = its calibrated one in conf/detectors.yaml).
    model: instead of ``detector``, an MLflow model URI of a multichannel detector (e.g. a window autoencoder
        trained over an entity's channels by `train` with training.multivariate), scored through the machine
        likelihood (mknn_likelihood's parameters in conf/detectors.yaml) so its scores mean what the catalog's
        machine scores mean; threshold None = lakewatch_machine's.
    tolerance: readings within this of a row's first timestamp join that row (0: equal timestamps only).
    wait: how far (event time) an incomplete row may trail the entity's newest reading before it is scored with
        its missing channels as NaN (a later complete row releases it sooner).
    max_held: most readings an entity keeps waiting in the state.
    """

    series: Mapping[str, Sequence[str]] = field(default_factory=dict)
    detector: str = ""
    model: str = ""
    threshold: Fraction | None = None
    tolerance: str = "0 seconds"
    wait: str = "1 hour"
    max_held: PositiveInt = 10_000

    def __post_init__(self) -> None:
        for glob, channels in self.series.items():
            names = list(channels) if isinstance(channels, list | tuple) else None
            if not names or len(names) < 2 or len(set(names)) != len(names) or not all(
                    isinstance(c, str) and c and c != ENTITY_CHANNEL for c in names):
                raise ConfigError(f"streaming.entities.series.{glob}={channels!r}: expected a list of at least two "
                                  f"distinct channel names (not '{ENTITY_CHANNEL}')")
        parse_duration(self.tolerance, "streaming.entities.tolerance")
        parse_duration(self.wait, "streaming.entities.wait")
        if self.detector and self.model:
            raise ConfigError("streaming.entities: give a detector name or a model URI, not both "
                              f"(detector={self.detector!r}, model={self.model!r})")

    @property
    def enabled(self) -> bool:
        """Whether any series is an entity."""
        return bool(self.series)

    @property
    def tolerance_us(self) -> int:
        """The alignment tolerance in microseconds."""
        return int(parse_duration(self.tolerance, "streaming.entities.tolerance") * 1e6)

    @property
    def wait_us(self) -> int:
        """The longest wait of an incomplete row, in microseconds."""
        return int(parse_duration(self.wait, "streaming.entities.wait") * 1e6)

    def channels_of(self, series_id: str) -> tuple[str, ...] | None:
        """The channels of the entity `series_id` (None: not an entity)."""
        for glob, channels in self.series.items():
            if fnmatch.fnmatchcase(series_id, glob):
                return tuple(channels)
        return None

    def channel_counts(self) -> set[int]:
        """The channel counts of the configured entities."""
        return {len(channels) for channels in self.series.values()}


@dataclass(frozen=True)
class Rejected:
    """Readings of an entity that go to silver.quarantine: one reason and channel, their times (ns) and values."""

    reason: str
    message: str
    channel: str
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class EntityOutput:
    """What one entity's micro-batch produced: the scored rows (timestamps ns, NaN values), late readings by
    channel, rejected readings, events and the new state (fields named as lakewatch.streaming.scoring's
    StepOutput, which output_rows reads)."""

    timestamps: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    flags: np.ndarray
    explanations: dict[int, Any]
    events: list[Any]
    state: SeriesState
    threshold: float
    late: list[tuple[str, np.ndarray, np.ndarray]]
    rejected: list[Rejected]
    late_timestamps: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    alerts: tuple[list[dict[str, Any]], ...] = ()  # an entity's alerts leave from the driver: nothing sent here
    late_values: np.ndarray = field(default_factory=lambda: np.empty(0))


def held_readings(state: SeriesState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps ns, channel indexes, values) of the readings an entity's state holds."""
    n = len(state.held_values)
    return state.held_ts[:n], state.held_ts[n:2 * n], state.held_values


class EntityScorer:
    """Scores one entity's micro-batch against its state (see the module docstring)."""

    def __init__(self, settings: EntitySettings, detectors: Mapping[int, Detector], threshold: float,
                 max_lateness_ns: int = 0, event_gap_rows: int = 0, explainer: Explainer | None = None,
                 detector_name: str = "", book: Any = None,
                 rule_channels: Sequence[Sequence[str]] = (), model_version: str = "") -> None:
        self.settings = settings
        # The channels of each machine source's rule (lakewatch.streaming.entity_sources), by rule index.
        self.rule_channels = tuple(tuple(c) for c in rule_channels)
        self.detectors = dict(detectors)  # by channel count
        self.detector_name = detector_name or next(iter(self.detectors.values())).name
        self.threshold = float(threshold)
        self.max_lateness_ns = int(max_lateness_ns)
        self.event_gap_rows = int(event_gap_rows)
        self.explainer = explainer
        self.book = book  # per-series thresholds (ops.thresholds, lakewatch.thresholds), keyed (series_id, '*', ...)
        self.model_version = model_version  # a registered model's name/version; "" = name@fingerprint

    def channels_of(self, series_id: str, rule: int | None = None) -> tuple[str, ...] | None:
        """The channels of the entity `series_id`: those of its glob in streaming.entities.series, else those of
        its source's rule `rule` (None: not an entity)."""
        names = self.settings.channels_of(series_id)
        if names is None and rule is not None and 0 <= rule < len(self.rule_channels):
            return self.rule_channels[rule]
        return names

    def channel_counts(self) -> set[int]:
        """The channel counts of the entities: the globs' and the source rules'."""
        return self.settings.channel_counts() | {len(c) for c in self.rule_channels}

    def step(self, series_id: str, state: SeriesState, ts_us: np.ndarray, values: np.ndarray,
             channels: np.ndarray, rule: int | None = None) -> EntityOutput:
        """Score the readings (epoch micros, values, channel names; any order) of the entity `series_id`
        (`rule`: its source's rule when it is a machine by source)."""
        names = self.channels_of(series_id, rule)
        if names is None:  # the packing step keys only configured entities as '*'
            raise ConfigError(f"series {series_id!r} was keyed as an entity but matches no streaming.entities.series "
                              "and no machine source")
        index = {name: i for i, name in enumerate(names)}
        ts_ns = np.asarray(ts_us, np.int64) * 1000
        vals = np.asarray(values, np.float64)
        chans = np.asarray(channels, dtype=object)
        ci = np.fromiter((index.get(c, -1) for c in chans), np.int64, len(chans))
        rejected: list[Rejected] = []
        for name in sorted(set(chans[ci < 0])):
            mask = chans == name
            rejected.append(Rejected(UNKNOWN_CHANNEL, f"channel '{name}' is not one of entity {series_id}'s channels "
                                     f"({', '.join(names)}) in streaming.entities.series: list it there (a new "
                                     f"channel count needs a new checkpoint) or send it under a series_id of its own",
                                     str(name), ts_ns[mask], vals[mask]))
        bad = (ci >= 0) & ~np.isfinite(vals)
        for i in sorted(set(ci[bad])):
            mask = bad & (ci == i)
            rejected.append(Rejected(NON_FINITE, f"non-finite value of entity {series_id}'s channel '{names[i]}': "
                                     "its row is scored without that channel", names[i], ts_ns[mask], vals[mask]))
        keep = (ci >= 0) & ~bad
        late = keep & (ts_ns <= state.last_scored_ns - self.max_lateness_ns) if state.last_scored_ns != NO_TIME \
            else np.zeros(len(ts_ns), bool)
        late_rows = [(names[i], ts_ns[late & (ci == i)], vals[late & (ci == i)]) for i in sorted(set(ci[late]))]
        fresh = keep & ~late
        held_ts, held_ci, held_vals = held_readings(state)
        pool_ts = np.concatenate([held_ts, ts_ns[fresh]])
        pool_ci = np.concatenate([held_ci, ci[fresh]])
        pool_vals = np.concatenate([held_vals, vals[fresh]])
        order = np.argsort(pool_ts, kind="stable")
        pool_ts, pool_ci, pool_vals = pool_ts[order], pool_ci[order], pool_vals[order]
        max_seen = max(state.max_seen_ns, int(pool_ts[-1])) if len(pool_ts) else state.max_seen_ns
        release = self._release(pool_ts, pool_ci, len(names), max_seen)
        run_ts, wide = self._aligned(pool_ts[release], pool_ci[release], pool_vals[release], names)
        complete = np.isfinite(wide).all(axis=1) if len(wide) else np.zeros(0, bool)
        if state.rows_scored == 0 and len(run_ts):
            first = int(np.argmax(complete)) if complete.any() else len(run_ts)
            if first:
                rejected.extend(self._never_aligned(series_id, names, run_ts[:first], wide[:first]))
                run_ts, wide = run_ts[first:], wide[first:]
        out_state = SeriesState(detector=state.detector, trail=state.trail, last_scored_ns=state.last_scored_ns,
                                max_seen_ns=max_seen,
                                held_ts=np.concatenate([pool_ts[~release], pool_ci[~release]]),
                                held_values=pool_vals[~release], open_event=state.open_event,
                                rows_scored=state.rows_scored)
        return self._score(series_id, names, out_state, state, run_ts, wide, late_rows, rejected)

    def _release(self, ts: np.ndarray, ci: np.ndarray, channels: int, max_seen: int) -> np.ndarray:
        """Which sorted pending readings to score now: whole rows up to the newest complete one, rows older than
        the newest reading minus `wait`, and the oldest rows beyond `max_held` readings."""
        if not len(ts):
            return np.zeros(0, bool)
        rows = row_starts(ts // 1000, self.settings.tolerance_us)
        starts, first = np.unique(rows, return_index=True)
        present = np.zeros((len(starts), channels), bool)
        present[np.searchsorted(starts, rows), ci] = True
        complete = present.all(axis=1)
        cutoff = (max_seen // 1000) - self.settings.wait_us
        if complete.any():
            cutoff = max(cutoff, int(starts[complete][-1]))
        held_rows = starts > cutoff
        held = int(np.sum(held_rows[np.searchsorted(starts, rows)]))
        if held > self.settings.max_held:  # release the oldest held rows until at most max_held readings wait
            counts = np.diff(np.r_[first, len(ts)])
            waiting = np.cumsum(counts[::-1])[::-1]  # readings from each row to the end
            keep_from = np.flatnonzero(held_rows & (waiting <= self.settings.max_held))
            cutoff = int(starts[keep_from[0] - 1]) if len(keep_from) else int(starts[-1])
        return rows <= cutoff

    def _aligned(self, ts: np.ndarray, ci: np.ndarray, vals: np.ndarray, names: Sequence[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Released readings as rows (row start ns, values (rows, channels)) by evaluation.entities.align."""
        if not len(ts):
            return np.empty(0, np.int64), np.empty((0, len(names)))
        frame = pd.DataFrame({"channel": np.asarray(names, dtype=object)[ci], "micros": ts // 1000, "value": vals})
        micros, wide = align(frame, names, self.settings.tolerance_us)
        return micros * 1000, wide

    def _never_aligned(self, series_id: str, names: Sequence[str], ts: np.ndarray, wide: np.ndarray
                       ) -> list[Rejected]:
        tolerance = self.settings.tolerance
        message = (f"channels never align: no row of entity {series_id} (within {tolerance}) has a reading of every "
                   f"channel ({', '.join(names)}) yet; widen streaming.entities.tolerance or list only the channels "
                   "it sends")
        out = []
        for j, name in enumerate(names):
            mask = np.isfinite(wide[:, j])
            if mask.any():
                out.append(Rejected(NEVER_ALIGNED, message, name, ts[mask], wide[mask, j]))
        return out

    def _score(self, series_id: str, names: tuple[str, ...], state: SeriesState, before_state: SeriesState,
               run_ts: np.ndarray, wide: np.ndarray, late_rows: list[Any], rejected: list[Rejected]) -> EntityOutput:
        detector = self.detector(len(names))
        threshold = self.threshold_of(series_id)
        det_state = detector.new_state() if state.is_new else detector.state_from_bytes(state.detector)
        trail = state.trail
        explanations: dict[int, Any] = {}
        if len(run_ts):
            if self.explainer is not None:
                scores, det_state, explanations, trail = self.explainer.score(detector, trail, det_state, wide,
                                                                              run_ts, threshold, names)
            else:
                scores, det_state = detector.update(det_state, wide, run_ts)
            flags = scores >= threshold
        else:
            scores, flags = np.empty(0), np.zeros(0, bool)
        events, open_event = advance_events(state.open_event, run_ts, scores, flags, explanations,
                                            self.event_gap_rows)
        last_scored = max(before_state.last_scored_ns, int(run_ts.max())) if len(run_ts) else \
            before_state.last_scored_ns
        new_state = SeriesState(detector=detector.state_to_bytes(det_state), trail=trail, last_scored_ns=last_scored,
                                max_seen_ns=state.max_seen_ns, held_ts=state.held_ts, held_values=state.held_values,
                                open_event=open_event, rows_scored=state.rows_scored + len(run_ts))
        return EntityOutput(run_ts, np.full(len(run_ts), np.nan), scores, flags, explanations, events, new_state,
                            threshold, late_rows, rejected)

    def threshold_of(self, series_id: str) -> float:
        """The entity's flag threshold now: its row (series_id, '*', detector) in ops.thresholds, else the
        entities' threshold."""
        if self.book is None:
            return self.threshold
        return float(self.book.current().get((series_id, ENTITY_CHANNEL, self.detector_name), self.threshold))

    def stamp(self, series_id: str, rule: int | None = None) -> dict[str, str]:
        """The detector name and model version stamped on the entity's scores and events."""
        names = self.channels_of(series_id, rule) or ()
        return {"detector": self.detector_name,
                "model_version": self.model_version or f"{self.detector_name}@{self.detector(len(names)).fingerprint}"}

    def detector(self, channels: int) -> Detector:
        """The entities' detector for `channels` channels."""
        return self.detectors[channels]


def rejected_detail(item: Rejected) -> str:
    """The `detail` JSON of a rejected row (reason code and message)."""
    return json.dumps({"reason": item.reason, "message": item.message})
