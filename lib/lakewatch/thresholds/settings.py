"""The `thresholds:` configuration section, read with :func:`threshold_settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from lakewatch.config import Fraction, LakewatchConfig, NonNegativeInt
from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import parse_duration

SECTION = "thresholds"


@dataclass(frozen=True)
class ThresholdSettings:
    """Per-series thresholds and the alert budget.

    ``budget_per_week``: at most this many alerted events per series and ISO week (event time, weeks start on
    Monday 00:00 UTC), unless an event's peak score is at least ``ceiling`` (such an event always alerts, and the
    stream always flags it). Recalibration keeps thresholds in [``min_threshold``, ``max_threshold``] and puts a
    raised one ``margin`` above the peak it clears. ``refresh``: how often the stream's Python workers and the alerts
    re-read ops.thresholds. ``enabled`` false: the stream and the alerts use the default threshold and no budget.
    """

    enabled: bool = True
    budget_per_week: NonNegativeInt = 20
    ceiling: Fraction = 0.999
    min_threshold: Fraction = 0.5
    max_threshold: Fraction = 0.999
    margin: Annotated[float, Field(gt=0.0, le=0.1)] = 0.001
    refresh: str = "30 seconds"
    set_by: str = ""

    def __post_init__(self) -> None:
        if not self.min_threshold <= self.max_threshold <= self.ceiling:
            raise ConfigError(f"{SECTION}: expected min_threshold <= max_threshold <= ceiling, found "
                              f"min_threshold={self.min_threshold}, max_threshold={self.max_threshold}, "
                              f"ceiling={self.ceiling}")
        parse_duration(self.refresh, f"{SECTION}.refresh")

    @property
    def refresh_seconds(self) -> float:
        """How often the current thresholds are re-read, in seconds."""
        return parse_duration(self.refresh, f"{SECTION}.refresh")


def threshold_settings(config: LakewatchConfig) -> ThresholdSettings:
    """The `thresholds:` section of `config`; ConfigError naming the key for anything malformed."""
    return config.settings(SECTION, ThresholdSettings)
