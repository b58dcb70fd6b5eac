"""NAB v1.1 scoring (Numenta Anomaly Benchmark), in numpy/pandas.

The rules follow NAB's ``nab/sweeper.py``; positions and widths count rows, not time:

* The first ``min(floor(0.15 * rows), 0.15 * 5000)`` rows of a file are probationary and not scored at
  all; a window none of whose rows is scored is neither a hit nor a miss.
* A row is a detection when ``anomaly_score >= threshold``.
* A window spanning rows ``a..b`` (width ``w = b - a + 1``) is worth ``tp_weight * S(y) / S(-1)`` for its
  earliest scored detection at row ``i``, with ``y = -(b - i + 1) / w`` (exactly ``tp_weight`` at ``a``,
  just above 0 at ``b``); later detections in it add nothing. A window without one costs ``-fn_weight``.
* A detection outside every window costs ``fp_weight * S(y)`` with ``y = (i - b) / (w - 1)`` measured from
  the end ``b`` of the last window before it, ``S`` being -1 beyond ``y = 3``; with no window before it,
  it costs ``fp_weight * -1``.
* ``S(y) = 2 / (1 + exp(5 y)) - 1``. True negatives are free: ``tn_weight`` is carried but never used.
* Corpus score = sum of the files' scores, normalised as ``100 * (raw - null) / (perfect - null)`` with
  ``null = -fn_weight * windows`` and ``perfect = tp_weight * windows``.

Departures, only where NAB has no defined behaviour: a window is the block of rows whose timestamps lie
in ``[start, end]`` (NAB requires both ends to be timestamps of the file, where the two agree); after a
one-row window NAB divides by zero, and here uses ``y = 2``, as NAB's older scorer did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lakewatch.errors import LakewatchError
from lakewatch.evaluation.nab_threshold import PooledRows, pool_rows, probation_length, row_units, sweep

WindowLimits = Sequence[tuple[object, object]]


class NabError(LakewatchError):
    """Base class of the errors the NAB scoring library raises on purpose."""


class NabDataError(NabError, ValueError):
    """An input (frame, series, windows, profile or threshold) is malformed or inconsistent."""


class NabFileNotFoundError(NabError, FileNotFoundError):
    """A NAB file or directory that was asked for does not exist."""


@dataclass(frozen=True)
class CostProfile:
    """One NAB application profile: the weight of each kind of outcome."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float


@dataclass(frozen=True)
class FileScore:
    """A file's raw NAB score at one threshold; ``total`` counts all its rows, probation included."""

    file: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


@dataclass(frozen=True)
class ProfileResult:
    """A corpus scored under one profile: raw, baseline and normalised scores, and the per-file detail."""

    profile: str
    threshold: float
    raw_score: float
    null_score: float
    perfect_score: float
    normalized: float
    files: tuple[FileScore, ...]


@dataclass(frozen=True)
class _ScoredRows:
    """A file's post-probation rows with what scoring needs, independent of profile and threshold."""

    file: str
    n_rows: int
    scores: np.ndarray
    window_ids: np.ndarray  # window index within the file, -1 outside every window
    units: np.ndarray  # S(y)/S(-1) inside a window, S(y) or -1 outside
    n_windows: int  # windows owning at least one scored row


def _as_timestamps(timestamps: object, file: str) -> np.ndarray:
    series = pd.Series(timestamps)
    try:
        # to_datetime on an already-datetime column still iterates it in Python: skip it when possible.
        values = pd.DatetimeIndex(series if pd.api.types.is_datetime64_any_dtype(series) else pd.to_datetime(series))
    except (TypeError, ValueError) as exc:
        raise NabDataError(f"{file}: timestamps cannot be parsed as datetimes ({exc})") from exc
    if values.hasnans:
        raise NabDataError(f"{file}: timestamps contain {int(values.isna().sum())} missing value(s)")
    if values.tz is not None:
        values = values.tz_convert("UTC").tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]")


def _as_scores(anomaly_scores: object, n_rows: int, file: str) -> np.ndarray:
    try:
        scores = np.asarray(anomaly_scores, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise NabDataError(f"{file}: anomaly_score is not numeric ({exc})") from exc
    if len(scores) != n_rows:
        raise NabDataError(f"{file}: {len(scores)} anomaly scores for {n_rows} timestamps; lengths must match")
    bad = np.flatnonzero(~((scores >= 0.0) & (scores <= 1.0)))  # NaN fails both comparisons
    if len(bad):
        raise NabDataError(
            f"{file}: anomaly_score must lie in [0, 1] without NaN; {len(bad)} row(s) do not, "
            f"first at row {bad[0]} (value {scores[bad[0]]!r})"
        )
    return scores


def window_spans(timestamps: np.ndarray, windows: WindowLimits, file: str) -> list[tuple[int, int]]:
    """Row spans ``(first, last)`` of each window, in time order, from datetime64 ``timestamps``.

    Raises :class:`NabDataError` when a window is reversed, covers no row, covers rows that are not
    contiguous, or overlaps another window.
    """
    limits = []
    for start, end in windows:
        try:
            start, end = pd.Timestamp(start), pd.Timestamp(end)
        except (TypeError, ValueError) as exc:
            raise NabDataError(f"{file}: window limits {start!r}, {end!r} are not timestamps ({exc})") from exc
        if start > end:
            raise NabDataError(f"{file}: window [{start}, {end}] ends before it starts")
        limits.append((start, end))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(limits):
        rows = np.flatnonzero((timestamps >= start.to_datetime64()) & (timestamps <= end.to_datetime64()))
        if len(rows) == 0:
            raise NabDataError(f"{file}: window [{start}, {end}] contains no row of the series")
        if rows[-1] - rows[0] + 1 != len(rows):
            raise NabDataError(f"{file}: rows of window [{start}, {end}] are not contiguous (timestamps out of order)")
        if spans and rows[0] <= spans[-1][1]:
            raise NabDataError(f"{file}: window [{start}, {end}] overlaps the window before it")
        spans.append((int(rows[0]), int(rows[-1])))
    return spans


def _prepare(file: str, timestamps: object, anomaly_scores: object, windows: WindowLimits) -> _ScoredRows:
    stamps = _as_timestamps(timestamps, file)
    if len(stamps) == 0:
        raise NabDataError(f"{file}: the series has no rows")
    scores = _as_scores(anomaly_scores, len(stamps), file)
    window_ids, units = row_units(len(stamps), window_spans(stamps, windows, file))
    first_scored = probation_length(len(stamps))
    window_ids = window_ids[first_scored:]
    return _ScoredRows(
        file=file,
        n_rows=len(stamps),
        scores=scores[first_scored:],
        window_ids=window_ids,
        units=units[first_scored:],
        n_windows=len(np.unique(window_ids[window_ids >= 0])),
    )


def _score_rows(rows: _ScoredRows, threshold: float, profile: CostProfile) -> FileScore:
    detected = rows.scores >= threshold
    inside = rows.window_ids >= 0
    false_alarms = detected & ~inside
    hits = detected & inside
    # Rows are in time order, so the first occurrence of each window id is its earliest detection.
    _, first = np.unique(rows.window_ids[hits], return_index=True)
    tp_score = profile.tp_weight * float(np.sum(rows.units[hits][first]))
    fp_score = profile.fp_weight * float(np.sum(rows.units[false_alarms]))
    fn_score = -profile.fn_weight * (rows.n_windows - len(first))
    return FileScore(
        file=rows.file,
        threshold=float(threshold),
        score=tp_score + fp_score + fn_score,
        tp=int(hits.sum()),
        tn=int((~detected & ~inside).sum()),
        fp=int(false_alarms.sum()),
        fn=int((~detected & inside).sum()),
        total=rows.n_rows,
    )


def _check_threshold(threshold: object) -> float:
    try:
        value = float(threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise NabDataError(f"threshold must be a number, got {threshold!r}") from exc
    if math.isnan(value):
        raise NabDataError("threshold must be a number, got NaN")
    return value


def score_file(
    timestamps: object,
    anomaly_scores: object,
    windows: WindowLimits,
    threshold: float,
    profile: CostProfile,
    *,
    file: str = "",
) -> FileScore:
    """Score one series at a fixed threshold under ``profile``.

    ``timestamps`` and ``anomaly_scores`` are aligned sequences in file order (scores in [0, 1]);
    ``windows`` the file's ``(start, end)`` anomaly windows (inclusive); a row is a detection when its
    score is ``>= threshold``. ``file`` only labels the result and error messages. Returns a
    :class:`FileScore` whose counts cover the scored (post-probation) rows.
    """
    rows = _prepare(file or "<series>", timestamps, anomaly_scores, windows)
    return replace(_score_rows(rows, _check_threshold(threshold), profile), file=file)


def _prepare_corpus(frames: Mapping[str, pd.DataFrame], windows: Mapping[str, WindowLimits]) -> list[_ScoredRows]:
    if not frames:
        raise NabDataError("frames is empty: there is nothing to score")
    prepared = []
    for key in sorted(frames):
        frame = frames[key]
        missing = [column for column in ("timestamp", "anomaly_score") if column not in frame.columns]
        if missing:
            raise NabDataError(f"{key}: frame lacks column(s) {missing}; it has {list(frame.columns)}")
        if key not in windows:
            raise NabDataError(f"{key}: file key has no entry in the windows (a file without anomalies needs [])")
        prepared.append(_prepare(key, frame["timestamp"], frame["anomaly_score"], windows[key]))
    return prepared


def _pool(prepared: list[_ScoredRows]) -> PooledRows:
    return pool_rows([(rows.scores, rows.window_ids, rows.units) for rows in prepared])


def normalised_score(raw: float, null: float, perfect: float) -> float:
    """NAB's normalised score ``100 (raw - null) / (perfect - null)``; NaN without a scored window."""
    if perfect == null:  # no scored window: the scale is undefined
        return math.nan
    return 100.0 * (raw - null) / (perfect - null)


def _score_profile(
    prepared: list[_ScoredRows], pooled: PooledRows | None, profile: CostProfile, threshold: float | None
) -> ProfileResult:
    if threshold is None:
        pooled = pooled if pooled is not None else _pool(prepared)
        threshold, _ = sweep(pooled, profile.tp_weight, profile.fp_weight, profile.fn_weight).best()
    threshold = _check_threshold(threshold)
    files = tuple(_score_rows(rows, threshold, profile) for rows in prepared)
    n_windows = sum(rows.n_windows for rows in prepared)
    raw = math.fsum(result.score for result in files)
    null, perfect = -profile.fn_weight * n_windows, profile.tp_weight * n_windows
    return ProfileResult(
        profile=profile.name,
        threshold=threshold,
        raw_score=raw,
        null_score=null,
        perfect_score=perfect,
        normalized=normalised_score(raw, null, perfect),
        files=files,
    )


def score_corpus(
    frames: Mapping[str, pd.DataFrame],
    windows: Mapping[str, WindowLimits],
    profile: CostProfile,
    threshold: float | None = None,
) -> ProfileResult:
    """Score a detector's output over a corpus under one profile.

    ``frames`` maps file keys (``"category/file.csv"``) to frames with ``timestamp`` and ``anomaly_score``
    columns; every key must be in ``windows`` (as returned by ``load_windows``). With ``threshold=None``
    the threshold maximising the corpus score is chosen (NAB's sweep over every distinct score, ties to
    the highest threshold). The null and perfect baselines count the windows of the files in ``frames``.
    Returns a :class:`ProfileResult` with files in key order.
    """
    return _score_profile(_prepare_corpus(frames, windows), None, profile, threshold)


def score_all_profiles(
    frames: Mapping[str, pd.DataFrame],
    windows: Mapping[str, WindowLimits],
    profiles: Mapping[str, CostProfile],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileResult]:
    """Score a corpus under each profile, preparing the rows once for all of them.

    ``thresholds`` maps profile names to fixed thresholds; when it is None every profile's threshold is
    optimised, and otherwise it must name every profile. Returns ``{profile name: ProfileResult}``.
    """
    if thresholds is not None:
        missing = sorted(set(profiles) - set(thresholds))
        if missing:
            raise NabDataError(f"thresholds has no entry for profile(s) {missing}; pass thresholds=None to optimise")
    prepared = _prepare_corpus(frames, windows)
    pooled = _pool(prepared) if thresholds is None else None
    return {
        name: _score_profile(prepared, pooled, profile, None if thresholds is None else thresholds[name])
        for name, profile in profiles.items()
    }


def sweep_thresholds(
    frames: Mapping[str, pd.DataFrame], windows: Mapping[str, WindowLimits], profile: CostProfile
) -> pd.DataFrame:
    """Corpus raw score and counts at every candidate threshold, as the optimiser sees them.

    Returns a frame with columns threshold, score, tp, tn, fp, fn; one row per distinct anomaly score
    plus a first row at threshold 1.1 (nothing detected), highest threshold first.
    """
    result = sweep(_pool(_prepare_corpus(frames, windows)), profile.tp_weight, profile.fp_weight, profile.fn_weight)
    return pd.DataFrame(
        {
            "threshold": result.thresholds,
            "score": result.scores,
            "tp": result.tp,
            "tn": result.tn,
            "fp": result.fp,
            "fn": result.fn,
        }
    )
