"""Settings of the streaming scoring job (section `streaming:` of the config) and the parsing of their values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from lakewatch.config import Fraction, LakewatchConfig, NonNegativeInt, Number, PositiveInt, validated
from lakewatch.errors import ConfigError

SECTION = "streaming"
AVAILABLE_NOW = "availableNow"
SOURCES = ("delta", "kafka")

_UNITS = {"ms": 0.001, "millisecond": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
          "minute": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class StreamSettings:
    """How the score stream runs; every field has a default, conf/base.yaml `streaming:` overrides them.

    trigger: "processingTime=<interval>" or "availableNow" (catch up, then stop).
    watermark: how far (event time) each series' newest rows are held back in state so rows arriving out of
        order within it are still scored in timestamp order; 0 scores every row in the batch it arrives in.
        Held rows are scored when newer rows of their series arrive (a series that goes quiet keeps its
        last `watermark` of rows in state until it sends again).
    max_lateness: a row at or before (its series' last scored timestamp - max_lateness) goes to quarantine
        ("late"); a row less far behind is scored when it arrives (out of order).
    checkpoint: the query's checkpoint folder ("" = <table_root>/_checkpoints/score_stream/<query_name>).
    threshold: a point is flagged when its score >= threshold; None: the detector's own calibrated threshold
        (its `threshold` in conf/detectors.yaml, see flag_threshold).
    event_gap_rows: an anomaly event stays open across up to this many unflagged rows.
    state_partitions: shuffle partitions of the stateful operator (fixed by the first run of a checkpoint).
    state_buckets: 0 keeps one state row per series; N > 0 hashes the series into N buckets with one state row
        each, which pays Spark's per-group cost once per bucket (fixed by the first run of a checkpoint). Worth it
        when most series send rows in every micro-batch: a touched bucket rewrites all its series' states.
    max_files_per_trigger / max_bytes_per_trigger: Delta source rate limits (0 = Delta's defaults).
    driver_commit_rows: a micro-batch of at most this many rows is committed by the driver with delta-rs (no
        Spark job per table; tables at a local location), a larger one by Spark; 0 = always Spark.
    explain: settings of lakewatch.explain.ExplainSettings (lags, top_k, background, snapshot_every, enabled,
        lag_groups).
    entities: multichannel entities scored as one (lakewatch.streaming.entities.EntitySettings: series, detector,
        threshold, tolerance, wait, max_held); none by default.
    """

    source: Literal["delta", "kafka"] = "delta"
    trigger: str = "processingTime=5 seconds"
    query_name: str = "score_stream"
    checkpoint: str = ""
    detector: str = ""
    model: str = ""
    threshold: Fraction | None = None
    watermark: str = "0 seconds"
    max_lateness: str = "0 seconds"
    event_gap_rows: NonNegativeInt = 0
    state_partitions: PositiveInt = 4
    state_buckets: NonNegativeInt = 0
    max_files_per_trigger: NonNegativeInt = 0
    max_bytes_per_trigger: str = ""
    driver_commit_rows: NonNegativeInt = 4_000_000
    grace_stop_seconds: Number = 30.0
    explain: Mapping[str, Any] = field(default_factory=dict)
    kafka: Mapping[str, Any] = field(default_factory=dict)
    entities: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field when the trigger or a duration does not parse or both a detector and
        a model are given (types and bounds are checked by lakewatch.config.validated from the field types)."""
        parse_trigger(self.trigger)
        for name in ("watermark", "max_lateness"):
            parse_duration(getattr(self, name), f"streaming.{name}")
        if self.detector and self.model:
            raise ConfigError("streaming: give a detector name or a model URI, not both "
                              f"(detector={self.detector!r}, model={self.model!r})")
        self.entity_settings()

    def entity_settings(self) -> Any:
        """`entities` as lakewatch.streaming.entities.EntitySettings (ConfigError naming streaming.entities.<key>)."""
        from lakewatch.streaming.entities import EntitySettings  # it imports this module

        return validated(EntitySettings, dict(self.entities), f"{SECTION}.entities")

    @property
    def watermark_ns(self) -> int:
        """The hold-back window in nanoseconds."""
        return int(parse_duration(self.watermark, "streaming.watermark") * 1e9)

    @property
    def max_lateness_ns(self) -> int:
        """The allowed lateness in nanoseconds."""
        return int(parse_duration(self.max_lateness, "streaming.max_lateness") * 1e9)

    def with_overrides(self, **changes: Any) -> StreamSettings:
        """A copy with the given non-None fields replaced (command-line options over the config), validated
        again (ConfigError naming `streaming.<key>`)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return validated(StreamSettings, {**current, **{k: v for k, v in changes.items() if v is not None}}, SECTION)

    def flag_threshold(self, config: LakewatchConfig, detector: str) -> float:
        """The threshold flags use: `threshold` when set, else the calibrated threshold of `detector` in
        `config.detectors`; ConfigError when neither is there."""
        if self.threshold is not None:
            return float(self.threshold)
        calibrated = config.detectors.threshold(detector)
        if calibrated is None:
            raise ConfigError(f"streaming.threshold is not set and detector {detector!r} has no calibrated threshold; "
                              f"expected streaming.threshold=<score> or detectors.{detector}.threshold in "
                              "conf/detectors.yaml")
        return calibrated


def stream_settings(config: LakewatchConfig) -> StreamSettings:
    """The `streaming:` section of `config` as StreamSettings (ConfigError naming a bad key or value)."""
    return config.settings(SECTION, StreamSettings)


def checkpoint_dir(config: LakewatchConfig, settings: StreamSettings) -> str:
    """The query's checkpoint folder: the configured one, or <table_root>/_checkpoints/score_stream/<query>."""
    return settings.checkpoint or config.lakehouse.checkpoint("score_stream", settings.query_name)


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in a duration like "5 seconds", "10 min", "1.5h" or "0"; ConfigError naming `what` otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return float(text)
    if isinstance(text, str) and text.strip() == "0":
        return 0.0
    match = _DURATION.match(text.lower()) if isinstance(text, str) else None
    if not match or match.group(2) not in _UNITS:
        raise ConfigError(f"{what}={text!r}: expected a duration like '5 seconds', '10 minutes' or '1 hour'")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _trigger_seconds(text: str) -> float | None:
    """The interval of a "processingTime=<interval>" trigger in seconds, None for "availableNow"."""
    if text == AVAILABLE_NOW:
        return None
    key, sep, interval = str(text).partition("=")
    if key != "processingTime" or not sep:
        raise ConfigError(f"trigger={text!r}: expected 'processingTime=<interval>' (e.g. processingTime=5 seconds) "
                          f"or '{AVAILABLE_NOW}'")
    return parse_duration(interval, "trigger processingTime")


def parse_trigger(text: str) -> dict[str, Any]:
    """Keyword arguments of DataStreamWriter.trigger for "processingTime=<interval>" or "availableNow"."""
    return at_most_every(text, 0.0)


def at_most_every(text: str, seconds: float) -> dict[str, Any]:
    """Keyword arguments of DataStreamWriter.trigger for the trigger `text`, firing at most once every `seconds`
    (a processingTime interval shorter than that is lengthened; availableNow stays as it is)."""
    interval = _trigger_seconds(text)
    if interval is None:
        return {"availableNow": True}
    return {"processingTime": f"{round(max(interval, seconds) * 1000)} milliseconds"}
