"""Settings of drift monitoring (config section ``drift:``), read with :func:`drift_settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from lakewatch.config import Int, LakewatchConfig, Number, PositiveInt, validated
from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import parse_duration

SECTION = "drift"
NonNegativeNumber = Annotated[Number, Field(ge=0)]
#: The statistics a threshold can be set on, in the order a reason lists them.
STATISTICS = ("ks", "psi", "wasserstein", "score_shift", "flag_rate_shift", "mmd")


@dataclass(frozen=True)
class DriftThresholds:
    """A window drifted when any statistic reaches its threshold (null: computed and recorded, never judged).

    ``ks``: the KS distance (largest CDF gap); ``psi``: population stability index (0.1 moderate, 0.2 the usual
    "shifted"); ``wasserstein``: the distance in reference sigmas (IQR / 1.349); ``score_shift``: Wasserstein distance
    between the anomaly-score samples (scores in [0, 1]); ``flag_rate_shift``: absolute change of the share of
    flagged points; ``mmd``: unbiased MMD^2 of a multichannel entity, judged only when its permutation p-value is at
    most ``mmd_max_p_value`` as well (the MMD is estimated on a bounded subsample, where chance is not negligible).
    """

    ks: NonNegativeNumber | None = 0.2
    psi: NonNegativeNumber | None = 0.2
    wasserstein: NonNegativeNumber | None = 0.5
    score_shift: NonNegativeNumber | None = 0.1
    flag_rate_shift: NonNegativeNumber | None = 0.05
    mmd: NonNegativeNumber | None = 0.02
    mmd_max_p_value: Annotated[Number, Field(gt=0, le=1)] = 0.05


@dataclass(frozen=True)
class DriftSettings:
    """What drift compares and when a series counts as drifted.

    ``reference`` and ``window`` are durations ("30d", "24h", "90 minutes"): the window is the last ``window``
    before "now"; the reference the ``reference`` before the window. A side with fewer than ``min_rows`` rows
    gives the status "too_few_rows" and no statistic. ``consecutive_windows`` drifted windows in a row (the
    latest ones in gold.drift_metrics) open a retrain request. ``detector`` "" takes every row of
    gold.anomaly_scores for the score statistics; a name keeps that detector's rows only.
    """

    reference: str = "30d"
    window: str = "24h"
    min_rows: Annotated[Int, Field(ge=2)] = 30
    psi_bins: Annotated[Int, Field(ge=2)] = 10
    psi_epsilon: Annotated[Number, Field(gt=0, lt=1)] = 1e-4
    mmd_permutations: PositiveInt = 200
    mmd_max_rows: Annotated[Int, Field(ge=10)] = 500
    seed: Int = 42
    consecutive_windows: PositiveInt = 3
    detector: str = ""
    thresholds: Any = field(default_factory=DriftThresholds)  # a mapping in YAML, checked key by key below

    def __post_init__(self) -> None:
        if not isinstance(self.thresholds, DriftThresholds):  # validated() names an unknown or bad key
            object.__setattr__(self, "thresholds", validated(DriftThresholds, self.thresholds, "drift.thresholds"))
        for key in ("reference", "window"):
            if parse_duration(getattr(self, key), f"drift.{key}") <= 0:
                raise ConfigError(f"drift.{key}={getattr(self, key)!r}: expected a duration above 0, e.g. '24h'")

    @property
    def reference_seconds(self) -> float:
        """The reference period's length in seconds."""
        return parse_duration(self.reference, "drift.reference")

    @property
    def window_seconds(self) -> float:
        """The window's length in seconds."""
        return parse_duration(self.window, "drift.window")

    def with_overrides(self, **changes: Any) -> DriftSettings:
        """A copy with the given fields replaced (None values ignored), validated again."""
        current = {key: getattr(self, key) for key in self.__dataclass_fields__}
        current["thresholds"] = dict(self.thresholds.__dict__)
        return validated(DriftSettings, {**current, **{k: v for k, v in changes.items() if v is not None}}, SECTION)


def drift_settings(config: LakewatchConfig) -> DriftSettings:
    """The `drift:` section of `config` as DriftSettings (ConfigError naming a bad key or value)."""
    return config.settings(SECTION, DriftSettings)
