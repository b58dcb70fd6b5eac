"""Evaluation of one entity (a series_id with one or more channels) against its labels, without Spark: align its
readings by timestamp, score them with a detector, count point-wise outcomes and, optionally, NAB-score it.

An entity's readings (channel, micros, value) become one row per timestamp and one column per channel
(:func:`align`): exactly equal timestamps share a row, or, with a tolerance, every reading within ``tolerance``
microseconds of a row's first timestamp joins that row (a channel read twice in it keeps its last value). A
channel without a reading in a row is NaN there: the multichannel detectors (``partial_rows``) score such a row
from the channels they have, a univariate detector scores it 0. An entity none of whose rows holds every channel
"never aligns" and is skipped with that reason.

The first ``train_rows`` aligned rows go through the detector but are not counted; the rest are. For a
multichannel entity they are its detector's whole healthy start (``get_detector(..., healthy_rows=train_rows)``
fits the configured healthy start, in its proportions, into those rows), so no counted row is one the detector is
still learning from. A counted row is anomalous when its timestamp lies in a label window of its series (both ends
inclusive), or, with a label channel, when that channel's value there is non-zero (missing: normal); it is
flagged when its score is at least the detector's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lakewatch.config import DetectorCatalog
from lakewatch.evaluation.nab_scoring import CostProfile, score_corpus

# NAB v1.1's standard application profile (NAB config/profiles.json), so scoring needs no NAB checkout.
NAB_STANDARD = CostProfile(name="standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0, tn_weight=1.0)
SCORED, SKIPPED = "scored", "skipped"
# The detector of an entity of several channels unless told otherwise (the evaluate job, the score stream).
MULTICHANNEL_DEFAULT = "lakewatch_machine"

#: One row per entity, what :func:`evaluate_entity` returns (and the applyInPandas output schema).
ENTITY_RESULT_SCHEMA = (
    "entity string, channels string, detector string, status string, reason string, rows_aligned long, "
    "rows_scored long, anomalous long, flagged long, tp long, fp long, fn long, tn long, nab_raw double, "
    "nab_null double, nab_perfect double"
)
_COLUMNS = [part.strip().split(" ")[0] for part in ENTITY_RESULT_SCHEMA.split(",")]

Windows = Sequence[tuple[int, int]]  # (start, end) epoch microseconds, inclusive


@dataclass(frozen=True)
class EvaluationSpec:
    """What every entity is evaluated with (picklable: Spark sends it to the tasks).

    ``detectors`` maps a channel count to the detector name (key 0: any other count); ``thresholds`` maps a
    detector name to its flag threshold; ``windows`` the label windows by series_id (gold.labels); with
    ``label_channel`` set, that channel holds the labels instead (and is not fed to the detector); ``models``
    maps a name in ``detectors`` to a ready detector (a trained model: its healthy start is its own, so
    ``train_rows`` only decides which rows are counted).
    """

    detectors: Mapping[int, str]
    thresholds: Mapping[str, float]
    catalog: DetectorCatalog
    train_rows: int = 0
    tolerance_us: int = 0
    nab: bool = False
    label_channel: str | None = None
    windows: Mapping[str, Windows] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Any] = field(default_factory=dict)  # detectors by name that are not the catalog's

    def detector_for(self, channels: int) -> str:
        """The detector name for an entity of `channels` channels."""
        return self.detectors.get(channels, self.detectors[0])


def align(readings: pd.DataFrame, channels: Sequence[str], tolerance_us: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Readings (channel, micros, value) as (row micros, values of shape (rows, len(channels))), rows in time
    order; see the module docstring for the tolerance and missing values."""
    frame = readings.sort_values("micros", kind="stable")
    micros = frame["micros"].to_numpy(np.int64)
    row = row_starts(micros, tolerance_us)
    keyed = pd.DataFrame({"row": row, "channel": frame["channel"].to_numpy(), "value": frame["value"].to_numpy(float)})
    wide = (keyed.drop_duplicates(["row", "channel"], keep="last")
            .pivot(index="row", columns="channel", values="value").reindex(columns=list(channels)).sort_index())
    return wide.index.to_numpy(np.int64), wide.to_numpy(float)


def row_starts(micros: np.ndarray, tolerance_us: int) -> np.ndarray:
    """Each sorted timestamp's row: the first timestamp of the run it joins (within tolerance of that first);
    with no tolerance, the timestamp itself. (The score stream holds and releases an entity's readings by these
    rows, lakewatch.streaming.entities.)"""
    if tolerance_us <= 0:
        return micros
    out = np.empty_like(micros)
    start = None
    for i, t in enumerate(micros):
        if start is None or t - start > tolerance_us:
            start = t
        out[i] = start
    return out


def in_windows(micros: np.ndarray, windows: Windows) -> np.ndarray:
    """Whether each timestamp lies in one of `windows` ((start, end) micros, inclusive)."""
    inside = np.zeros(len(micros), dtype=bool)
    for start, end in windows:
        inside |= (micros >= start) & (micros <= end)
    return inside


def label_runs(micros: np.ndarray, anomalous: np.ndarray) -> list[tuple[int, int]]:
    """Windows (first, last micros) of each run of consecutive anomalous rows."""
    edges = np.diff(np.r_[0, anomalous.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(micros[a]), int(micros[b])) for a, b in zip(starts, ends, strict=True)]


def point_counts(anomalous: np.ndarray, flagged: np.ndarray) -> dict[str, int]:
    """tp, fp, fn, tn of flags against point labels."""
    return {"tp": int(np.sum(flagged & anomalous)), "fp": int(np.sum(flagged & ~anomalous)),
            "fn": int(np.sum(~flagged & anomalous)), "tn": int(np.sum(~flagged & ~anomalous))}


def point_metrics(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Precision, recall, F1, false-alarm rate (flagged share of normal points) and missed-alarm rate
    (unflagged share of anomalous points); NaN where the share is of nothing (e.g. precision with no flag)."""
    def share(part: int, whole: int) -> float:
        return part / whole if whole else math.nan

    precision, recall = share(tp, tp + fp), share(tp, tp + fn)
    f1 = share(2 * tp, 2 * tp + fp + fn)
    return {"precision": precision, "recall": recall, "f1": f1, "false_alarm_rate": share(fp, fp + tn),
            "missed_alarm_rate": share(fn, tp + fn)}


def _merged(windows: Windows) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def nab_entity(entity: str, micros: np.ndarray, scores: np.ndarray, windows: Windows, threshold: float
               ) -> tuple[float, float, float]:
    """(raw, null, perfect) NAB standard-profile scores of one entity's counted rows, from lakewatch's NAB scorer
    (lakewatch.evaluation.nab_scoring) at a fixed threshold; windows are merged where they overlap and kept
    where they hold a counted row (NAB's probation applies to the first 15% of the counted rows)."""
    kept = [(a, b) for a, b in _merged(windows) if np.any((micros >= a) & (micros <= b))]
    frame = pd.DataFrame({"timestamp": pd.to_datetime(micros, unit="us"), "anomaly_score": scores})
    limits = [(pd.Timestamp(a, unit="us"), pd.Timestamp(b, unit="us")) for a, b in kept]
    result = score_corpus({entity: frame}, {entity: limits}, NAB_STANDARD, threshold)
    return result.raw_score, result.null_score, result.perfect_score


def _row(entity: str, channels: Sequence[str], detector: str, status: str, reason: str | None, aligned: int,
         **counts: Any) -> pd.DataFrame:
    values = {"entity": entity, "channels": ",".join(channels), "detector": detector, "status": status,
              "reason": reason, "rows_aligned": aligned, "rows_scored": 0, "anomalous": 0, "flagged": 0, "tp": 0,
              "fp": 0, "fn": 0, "tn": 0, "nab_raw": None, "nab_null": None, "nab_perfect": None, **counts}
    return pd.DataFrame([values], columns=_COLUMNS)


def evaluate_entity(readings: pd.DataFrame, spec: EvaluationSpec) -> pd.DataFrame:
    """One ENTITY_RESULT_SCHEMA row for the readings (series_id, channel, micros, value) of one entity."""
    from lakewatch.detectors import get_detector
    from lakewatch.detectors.registry import MIN_HEALTHY_ROWS

    entity = str(readings["series_id"].iloc[0])
    present = sorted(set(readings["channel"]))
    channels = [c for c in present if c != spec.label_channel]
    detector_name = spec.detector_for(len(channels))
    if spec.label_channel is not None and spec.label_channel not in present:
        return _row(entity, channels, detector_name, SKIPPED, f"no label channel '{spec.label_channel}'", 0)
    if not channels:
        return _row(entity, channels, detector_name, SKIPPED, "no channel besides the label channel", 0)
    micros, wide = align(readings, [*channels, *([spec.label_channel] if spec.label_channel else [])],
                         spec.tolerance_us)
    values = wide[:, :len(channels)]
    if len(channels) > 1 and not np.any(np.all(np.isfinite(values), axis=1)):
        tolerance = f"within {spec.tolerance_us / 1e6:g} s" if spec.tolerance_us else "exactly"
        return _row(entity, channels, detector_name, SKIPPED,
                    f"channels never align: no timestamp ({tolerance}) has a reading of every channel "
                    f"({', '.join(channels)}); widen --tolerance or evaluate the channels as their own entities",
                    len(micros))
    if len(micros) <= spec.train_rows:
        return _row(entity, channels, detector_name, SKIPPED,
                    f"{len(micros)} aligned rows; --train-rows {spec.train_rows} leaves none to score", len(micros))
    model = spec.models.get(detector_name)
    if model is not None:
        from lakewatch.tracking.machines import channels_problem

        problem = channels_problem(model, channels)
        if problem:
            return _row(entity, channels, detector_name, SKIPPED, problem, len(micros))
    healthy = spec.train_rows if spec.train_rows and len(channels) > 1 and model is None else None
    if healthy is not None and healthy < MIN_HEALTHY_ROWS:
        return _row(entity, channels, detector_name, SKIPPED,
                    f"--train-rows {healthy} is too short a healthy start for {detector_name} (a multichannel "
                    f"detector needs at least {MIN_HEALTHY_ROWS} rows)", len(micros))
    detector = model if model is not None else get_detector(detector_name, dict(spec.params) or None,
                                                            catalog=spec.catalog, channels=len(channels),
                                                            healthy_rows=healthy)
    scores = detector.score_series(values if len(channels) > 1 else values[:, 0], micros * 1_000)
    counted = slice(spec.train_rows, None)
    if spec.label_channel is None:
        windows = spec.windows.get(entity, ())
        anomalous = in_windows(micros, windows)
    else:
        marks = wide[:, -1]
        anomalous = np.isfinite(marks) & (marks != 0)
        windows = label_runs(micros, anomalous)
    threshold = spec.thresholds[detector_name]
    flagged = scores[counted] >= threshold
    counts = point_counts(anomalous[counted], flagged)
    nab = {}
    if spec.nab:
        raw, null, perfect = nab_entity(entity, micros[counted], scores[counted], windows, threshold)
        nab = {"nab_raw": raw, "nab_null": null, "nab_perfect": perfect}
    return _row(entity, channels, detector_name, SCORED, None, len(micros), rows_scored=len(micros) - spec.train_rows,
                anomalous=int(anomalous[counted].sum()), flagged=int(flagged.sum()), **counts, **nab)
