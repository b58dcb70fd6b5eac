"""The stream's side of SHAP explanations: keeps each series' ExplainTrail moving and turns lakewatch.explain
attributions of flagged points into (base value, top inputs) pairs.

lakewatch.explain is imported lazily: where it is absent, or `streaming.explain.enabled` is false, the stream
runs without explanations (:func:`make_explainer` returns None).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from lakewatch.detectors.base import Detector, DetectorState
from lakewatch.errors import ConfigError
from lakewatch.streaming.events import Explanation

EXPLAIN_MODULE = "lakewatch.explain"


def explain_available() -> bool:
    """True when lakewatch.explain can be imported."""
    try:
        importlib.import_module(EXPLAIN_MODULE)
    except ImportError:
        return False
    return True


class Explainer:
    """Calls lakewatch.explain.explain_batch for one series' scored batch and keeps its trail as bytes."""

    def __init__(self, settings: Any, top_k: int) -> None:
        self.settings = settings
        self.top_k = int(top_k)

    def advance(self, detector: Detector, trail: bytes, before: DetectorState, values: np.ndarray,
                timestamps: np.ndarray, scores: np.ndarray, flags: np.ndarray) -> tuple[dict[int, Explanation], bytes]:
        """Explain the flagged rows of a batch; return {row index: (base value, top inputs)} and the new trail.

        ``before`` is the detector state the batch was scored from (used to start a trail for a new series).
        """
        explain = importlib.import_module(EXPLAIN_MODULE)
        current = explain.ExplainTrail.from_bytes(trail) if trail else explain.new_trail(detector, before)
        attributions, advanced = explain.explain_batch(detector, current, values, timestamps, scores, flags,
                                                       self.settings)
        out = {int(a.index): (float(a.base_value), _top_pairs(a, self.top_k)) for a in attributions}
        return out, advanced.to_bytes()


def _top_pairs(attribution: Any, k: int) -> tuple[tuple[str, float], ...]:
    top = attribution.top(k) if hasattr(attribution, "top") else attribution.contributions[:k]
    return tuple((str(name), float(value)) for name, value in top)


def make_explainer(options: Mapping[str, Any]) -> Explainer | None:
    """An Explainer built from the `streaming.explain` options, or None when disabled or unavailable.

    Raises ConfigError when the options do not fit lakewatch.explain.ExplainSettings.
    """
    if not options.get("enabled", True) or not explain_available():
        return None
    explain = importlib.import_module(EXPLAIN_MODULE)
    try:
        settings = explain.ExplainSettings(**dict(options))
    except TypeError as exc:
        raise ConfigError(f"streaming.explain: {exc}") from exc
    return Explainer(settings, getattr(settings, "top_k", 5))
