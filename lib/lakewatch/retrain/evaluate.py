"""Judging a model on the held-back window: pure numpy over scores, times and label windows, so the criterion is
tested without Spark or MLflow.

- ``average_precision`` (labels): the area under the precision-recall curve of the scores against "inside a
  label window" (scikit-learn's ``average_precision_score``: threshold-free, so two models calibrated differently
  are compared fairly, and suited to rare positives). Higher is better.
- ``flag_rate_error`` (no labels): |share of held-back points with score >= threshold - expected rate|. After a
  drift the held-back window is assumed to be mostly the new normal: a model that flags far more of it than the
  expected rate has not learnt the new regime; one that flags far less has gone blind. Lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sklearn.metrics import average_precision_score

from lakewatch.evaluation.entities import in_windows

AVERAGE_PRECISION = "average_precision"
FLAG_RATE_ERROR = "flag_rate_error"
HIGHER_IS_BETTER = {AVERAGE_PRECISION: True, FLAG_RATE_ERROR: False}


@dataclass(frozen=True)
class Figure:
    """One model's figure on the held-back window under `criterion`."""

    criterion: str
    value: float
    points: int
    positives: int = 0  # labelled points (average_precision)
    flagged: int = 0  # points at or above the threshold (flag_rate_error)


def labelled(times: np.ndarray, windows: Sequence[tuple[datetime, datetime]]) -> np.ndarray:
    """Booleans: which of `times` (datetime64) fall inside one of the label `windows` (start, end inclusive)."""
    micros = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    return in_windows(micros, [(_micros(start), _micros(end)) for start, end in windows])


def _micros(moment: datetime) -> int:
    return int(np.datetime64(_naive(moment), "us").astype(np.int64))


def _naive(moment: datetime) -> datetime:
    """A UTC datetime without its zone (numpy refuses aware ones); naive ones are UTC already."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def criterion_for(truth: np.ndarray) -> str:
    """average_precision when the held-back window has labelled and unlabelled points, else flag_rate_error."""
    return AVERAGE_PRECISION if 0 < int(truth.sum()) < len(truth) else FLAG_RATE_ERROR


def figure(criterion: str, scores: np.ndarray, truth: np.ndarray, threshold: float,
           expected_flag_rate: float) -> Figure:
    """The figure of `scores` (held-back points) under `criterion`; non-finite scores count as 0."""
    clean = np.nan_to_num(np.asarray(scores, dtype="float64"), nan=0.0, posinf=1.0, neginf=0.0)
    if criterion == AVERAGE_PRECISION:
        value = float(average_precision_score(truth.astype(int), clean))
        return Figure(criterion, value, len(clean), positives=int(truth.sum()))
    flagged = int((clean >= threshold).sum())
    rate = flagged / len(clean) if len(clean) else 0.0
    return Figure(criterion, abs(rate - expected_flag_rate), len(clean), flagged=flagged)


def is_better(candidate: Figure, champion: Figure | None, min_improvement: float) -> bool:
    """Whether `candidate` beats `champion` by more than `min_improvement` (no champion: it does)."""
    if champion is None:
        return True
    if HIGHER_IS_BETTER[candidate.criterion]:
        return candidate.value > champion.value + min_improvement
    return candidate.value < champion.value - min_improvement
