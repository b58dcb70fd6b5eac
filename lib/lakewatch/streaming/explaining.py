"""The stream's side of SHAP explanations: scores a series' batch, keeps its ExplainTrail moving and turns
lakewatch.explain attributions of flagged points into (base value, top inputs) pairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lakewatch import explain
from lakewatch.detectors.base import Detector, DetectorState
from lakewatch.errors import ConfigError
from lakewatch.streaming.events import Explanation

#: Rows between the detector states kept while a batch is scored, so that explaining a flagged point replays at
#: most this many rows (a state costs one more ``update`` call, a few tens of microseconds; BENCHMARKS.md session 27).
STATE_EVERY = 128


class Explainer:
    """Calls lakewatch.explain.explain_batch for one series' scored batch and keeps its trail as bytes."""

    def __init__(self, settings: explain.ExplainSettings) -> None:
        self.settings = settings

    def score(self, detector: Detector, trail: bytes, before: DetectorState, values: np.ndarray,
              timestamps: np.ndarray, threshold: float, channel_names: Sequence[str] | None = None
              ) -> tuple[np.ndarray, DetectorState, dict[int, Explanation], bytes]:
        """Score a batch from ``before``, flag it at ``threshold`` and explain its flagged rows: the scores, the
        detector state after the batch, {row index: (base value, top inputs)} and the new trail.

        The batch goes through the detector in updates split where the trail's snapshot moves
        (lakewatch.explain.snapshot_cut) and every STATE_EVERY rows (batch-split invariant, so the same scores),
        and the states met on the way spare the explainer its replays: the snapshot moves without one, and a
        flagged point is replayed from the nearest state before its window, at most STATE_EVERY rows back, instead
        of from the batch's start (in a batch of at least ``history`` rows, a series without flagged rows costs the
        explainer nothing but the trail's bytes; shorter batches move the snapshot by a replay every
        ``snapshot_every`` rows, as before). ``channel_names`` name a multichannel entity's sensors.
        """
        current = explain.ExplainTrail.from_bytes(trail) if trail else explain.new_trail(detector, before)
        cut = explain.snapshot_cut(current, len(values), self.settings)
        splits = sorted({*range(STATE_EVERY, len(values), STATE_EVERY), *([cut] if cut is not None else [])})
        known = {0: before}
        parts, after = [], before
        for start, stop in zip([0, *splits], [*splits, len(values)], strict=True):
            part, after = detector.update(after, values[start:stop], timestamps[start:stop])
            parts.append(part)
            if stop < len(values):
                known[stop] = after
        scores = parts[0] if len(parts) == 1 else np.concatenate(parts)
        attributions, advanced = explain.explain_batch(detector, current, values, timestamps, scores,
                                                       scores >= threshold, self.settings,
                                                       channel_names=channel_names, known_states=known)
        top_k = self.settings.top_k
        out = {int(a.index): (float(a.base_value), tuple((str(name), float(value)) for name, value in a.top(top_k)))
               for a in attributions}
        return scores, after, out, advanced.to_bytes()


def make_explainer(options: Mapping[str, Any], **changes: Any) -> Explainer | None:
    """An Explainer built from the `streaming.explain` options (and `changes` over them, e.g. by_channel for
    the entities), or None when they disable explanations.

    Raises ConfigError when the options do not fit lakewatch.explain.ExplainSettings.
    """
    try:
        settings = explain.ExplainSettings(**{**dict(options), **changes})
    except (TypeError, explain.ExplainError) as exc:
        raise ConfigError(f"streaming.explain: {exc}") from exc
    return Explainer(settings) if settings.enabled else None
