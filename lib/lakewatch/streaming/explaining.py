"""The stream's side of SHAP explanations: keeps each series' ExplainTrail moving and turns lakewatch.explain
attributions of flagged points into (base value, top inputs) pairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lakewatch import explain
from lakewatch.detectors.base import Detector, DetectorState
from lakewatch.errors import ConfigError
from lakewatch.streaming.events import Explanation


class Explainer:
    """Calls lakewatch.explain.explain_batch for one series' scored batch and keeps its trail as bytes."""

    def __init__(self, settings: explain.ExplainSettings) -> None:
        self.settings = settings

    def advance(self, detector: Detector, trail: bytes, before: DetectorState, values: np.ndarray,
                timestamps: np.ndarray, scores: np.ndarray, flags: np.ndarray,
                channel_names: Sequence[str] | None = None) -> tuple[dict[int, Explanation], bytes]:
        """Explain the flagged rows of a batch; return {row index: (base value, top inputs)} and the new trail.

        ``before`` is the detector state the batch was scored from (used to start a trail for a new series).
        ``channel_names`` name a multichannel entity's sensors in the attributions.
        """
        current = explain.ExplainTrail.from_bytes(trail) if trail else explain.new_trail(detector, before)
        attributions, advanced = explain.explain_batch(detector, current, values, timestamps, scores, flags,
                                                       self.settings, channel_names=channel_names)
        top_k = self.settings.top_k
        out = {int(a.index): (float(a.base_value), tuple((str(name), float(value)) for name, value in a.top(top_k)))
               for a in attributions}
        return out, advanced.to_bytes()


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
