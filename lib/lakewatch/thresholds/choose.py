"""Choosing one series' threshold from its events' peaks, the reviewers' verdicts and the alert budget (pure).

Two constraints, each of which can only raise the threshold above the default (the detector's calibrated one):

1. Feedback. Every cut ``t`` is scored by the verdicts it gets wrong: false positives at or above it (they would
   still alert) plus true positives below it (they would be lost). The candidates are the default and ``margin``
   above each false positive's peak; the cheapest wins, the lowest among equals. So the threshold rises above the
   false positives, but never past a true positive unless that clears more false positives than it loses.
2. Budget. In no ISO week may more than ``budget_per_week`` events below the ceiling reach the threshold: for a
   week with more, the threshold goes ``margin`` above its (budget + 1)-th highest peak.

The result is clamped to [min_threshold, max_threshold]; events at or above ``ceiling`` never count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lakewatch.thresholds.settings import ThresholdSettings

DIGITS = 6  # thresholds are stored rounded, so the same inputs always give the same bytes


@dataclass(frozen=True)
class Choice:
    """A series' chosen threshold and why."""

    threshold: float
    reason: str
    false_positives: int
    true_positives: int
    events: int
    worst_week_events: int


def choose_threshold(peaks: Sequence[float], weeks: Sequence[date], verdicts: Sequence[bool | None],
                     default: float, settings: ThresholdSettings) -> Choice:
    """The threshold of one series from its events: their peak scores, the Monday of the week each started in, and
    the newest verdict on each (True: true positive, False: false positive, None: no verdict)."""
    ceiling, margin = settings.ceiling, settings.margin
    fp = sorted(p for p, v in zip(peaks, verdicts, strict=True) if v is False and p < ceiling)
    tp = sorted(p for p, v in zip(peaks, verdicts, strict=True) if v is True and p < ceiling)
    reasons: list[str] = []
    threshold = _feedback_cut(fp, tp, default, margin)
    if threshold > default:
        cleared = sum(p < threshold for p in fp)
        lost = sum(p < threshold for p in tp)
        reasons.append(f"feedback: above {cleared} of {len(fp)} false positives (peak up to {fp[cleared - 1]:.4f})"
                       + (f", below {lost} of {len(tp)} true positives" if lost else
                          f", all {len(tp)} true positives above" if tp else ""))
    budget_cut, week = _budget_cut(peaks, weeks, settings)
    if budget_cut > threshold:
        threshold = budget_cut
        count = sum(1 for p, w in zip(peaks, weeks, strict=True) if w == week and p < ceiling)
        reasons.append(f"budget: {count} events in the week of {week.isoformat()}, at most "
                       f"{settings.budget_per_week} a week")
    clamped = min(max(threshold, settings.min_threshold), settings.max_threshold)
    if clamped != threshold:
        reasons.append(f"clamped from {threshold:.4f} to [{settings.min_threshold}, {settings.max_threshold}]")
    threshold = round(clamped, DIGITS)
    per_week: dict[date, int] = {}
    for p, w in zip(peaks, weeks, strict=True):
        if threshold <= p < ceiling:
            per_week[w] = per_week.get(w, 0) + 1
    return Choice(threshold, "; ".join(reasons) or "default: no false positives, within budget", len(fp), len(tp),
                  len(peaks), max(per_week.values(), default=0))


def _feedback_cut(fp: list[float], tp: list[float], default: float, margin: float) -> float:
    candidates = sorted({default, *(p + margin for p in fp if p + margin > default)})

    def cost(t: float) -> int:
        return sum(p >= t for p in fp) + sum(p < t for p in tp)

    return min(candidates, key=lambda t: (cost(t), t))


def _budget_cut(peaks: Sequence[float], weeks: Sequence[date], settings: ThresholdSettings) -> tuple[float, date]:
    """The least threshold keeping every week within budget, and the week that sets it (-1 when none does)."""
    by_week: dict[date, list[float]] = {}
    for p, w in zip(peaks, weeks, strict=True):
        if p < settings.ceiling:
            by_week.setdefault(w, []).append(p)
    cut, worst = -1.0, date.min
    for week, week_peaks in sorted(by_week.items()):
        if len(week_peaks) > settings.budget_per_week:
            # the (budget+1)-th highest peak must fall below the threshold
            over = sorted(week_peaks, reverse=True)[settings.budget_per_week] + settings.margin
            if over > cut:
                cut, worst = over, week
    return cut, worst
