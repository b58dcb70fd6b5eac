"""Anomaly events: runs of flagged points per series, carried across micro-batches while still open.

An event starts at a flagged point and goes on through later flagged points; it closes after more than
``gap_rows`` consecutive unflagged points. Its peak is the highest-scoring point, whose SHAP attributions (when
explanations are on) are the event's top contributing inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from lakewatch.streaming.state import OpenEvent

Explanation = tuple[float | None, tuple[tuple[str, float], ...]]  # (base value, top (input, shap) pairs)


@dataclass(frozen=True)
class EventUpdate:
    """One version of an event written by a micro-batch: still open, or closed (final).

    ``is_new`` is true for an event that started in this micro-batch (no earlier batch wrote a version of it).
    """

    event: OpenEvent
    is_open: bool
    is_new: bool = True


def advance_events(open_event: OpenEvent | None, timestamps: np.ndarray, scores: np.ndarray, flags: np.ndarray,
                   explanations: Mapping[int, Explanation],
                   gap_rows: int) -> tuple[list[EventUpdate], OpenEvent | None]:
    """Feed one scored batch (rows in scoring order) to the event tracker.

    Returns the event versions to write (each event touched by the batch once: closed, or open at the batch's
    end) and the event still open afterwards. ``explanations`` maps a flagged row's index to its attribution.
    """
    updates: list[EventUpdate] = []
    current = open_event
    carried = open_event.start_ns if open_event is not None else None  # written by an earlier batch

    def version(event: OpenEvent, is_open: bool) -> EventUpdate:
        return EventUpdate(event, is_open, event.start_ns != carried)

    touched = False
    last = -1
    for idx in np.flatnonzero(flags):
        i = int(idx)
        if current is not None:
            gap = current.gap + (i - last - 1)
            if gap > gap_rows:
                updates.append(version(current, False))
                current, touched = None, False
            else:
                current = replace(current, gap=gap)
        current = _extend(current, int(timestamps[i]), float(scores[i]), explanations.get(i))
        touched = True
        last = i
    if current is not None:
        gap = current.gap + (len(flags) - last - 1)
        current = replace(current, gap=gap)
        if gap > gap_rows:
            updates.append(version(current, False))
            current = None
        elif touched:
            updates.append(version(current, True))
    return updates, current


def _extend(event: OpenEvent | None, ts: int, score: float, explanation: Explanation | None) -> OpenEvent:
    base, top = explanation if explanation is not None else (None, ())
    if event is None:
        return OpenEvent(start_ns=ts, end_ns=ts, peak_ns=ts, peak_score=score, points=1, gap=0,
                         base_value=base, top=tuple(top))
    grown = replace(event, end_ns=ts, points=event.points + 1, gap=0)
    if score > event.peak_score:
        grown = replace(grown, peak_ns=ts, peak_score=score, base_value=base, top=tuple(top))
    return grown
