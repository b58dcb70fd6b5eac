"""Request and response models of the API (pydantic): they validate what comes in, name the field that is wrong,
and document themselves in the OpenAPI page (/docs, /openapi.json)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator, model_validator


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ErrorAnswer(BaseModel):
    """Every 4xx/5xx answer: what is wrong, and the request field (``readings[2].timestamp``, ``query.since``,
    ``state_token``, ``X-API-Key``...) or table it is about."""

    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------------------------------------------- health
class TableHealth(BaseModel):
    name: str
    exists: bool
    hint: str | None = None


class StreamHealth(BaseModel):
    last_scored_at: datetime | None
    seconds_since_last_batch: float | None
    stale: bool


class Health(BaseModel):
    """``ok``, or ``degraded`` with the problems; the answer is 200 either way (the API itself is up)."""

    status: Literal["ok", "degraded"]
    problems: list[str]
    tables: dict[str, TableHealth]
    stream: StreamHealth
    checked_at: datetime


# ---------------------------------------------------------------------------------------------------- anomalies
class Anomaly(BaseModel):
    """An anomaly event of gold.anomalies; ``event_id`` names it everywhere (alerts, feedback, the dashboard)."""

    event_id: str
    series_id: str
    channel: str
    start: datetime
    end: datetime
    peak_at: datetime
    peak_score: float
    points: int
    threshold: float
    is_open: bool
    detector: str
    model_version: str
    updated_at: datetime


class AnomalyPage(BaseModel):
    items: list[Anomaly]
    total: int = Field(description="events matching the filters, on every page")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last one")
    note: str | None = Field(default=None, description="why the list is empty when gold.anomalies does not exist "
                             "yet (and the job that creates it)")


class Contribution(BaseModel):
    rank: int
    input: str
    shap: float | None


class ScoredReading(BaseModel):
    timestamp: datetime
    value: float | None
    score: float
    flag: bool
    in_event: bool


class AnomalyDetail(Anomaly):
    """An event with its SHAP contributions (largest first; ``base_value`` is the explainer's expected score) and
    the scored readings around it."""

    base_value: float | None
    contributions: list[Contribution]
    readings: list[ScoredReading]


class SeriesScore(BaseModel):
    channel: str
    timestamp: datetime
    value: float | None
    raw_score: float
    score: float
    flag: bool
    detector: str
    model_version: str


class SeriesScores(BaseModel):
    series_id: str
    items: list[SeriesScore]
    truncated: bool = Field(description="true when more rows matched than api.max_points; narrow from/to")


# ---------------------------------------------------------------------------------------------------- scoring
class ReadingIn(BaseModel):
    """One reading: its series (optional when the request names one), channel, ISO-8601 timestamp (no zone =
    UTC) and numeric value."""

    model_config = ConfigDict(extra="forbid")

    series_id: str | None = Field(default=None, min_length=1, max_length=200)
    channel: str = Field(default="value", min_length=1, max_length=200)
    timestamp: datetime
    value: StrictFloat = Field(description="a JSON number (not a string or a boolean)")

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("expected an ISO-8601 timestamp string, e.g. 2026-03-01T12:00:00Z")
        return value


class ScoreRequest(BaseModel):
    """Readings to score. Without ``series_id`` every reading names its series and each series starts from a
    fresh detector state (nothing is kept). With ``series_id`` (all readings of that series) the answer carries a
    ``state_token``; send it back with the next readings to continue from where this call stopped."""

    model_config = ConfigDict(extra="forbid")

    readings: list[ReadingIn] = Field(min_length=1)
    model: str = Field(default="default", description="'default', a detector of conf/detectors.yaml, or "
                       "'champion' (the MLflow registry's champion)", min_length=1, max_length=200)
    series_id: str | None = Field(default=None, min_length=1, max_length=200)
    state_token: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _series(self) -> ScoreRequest:
        if self.state_token is not None and self.series_id is None:
            raise ValueError("state_token needs series_id: a token continues one series")
        for i, reading in enumerate(self.readings):
            if self.series_id is None and reading.series_id is None:
                raise ValueError(f"readings[{i}].series_id is missing; give it, or series_id for the request")
            if self.series_id is not None and reading.series_id not in (None, self.series_id):
                raise ValueError(f"readings[{i}].series_id is {reading.series_id!r}; this request scores "
                                 f"series_id {self.series_id!r} only")
        return self


class ScoreOut(BaseModel):
    index: int = Field(description="position of the reading in the request")
    series_id: str
    channel: str
    timestamp: datetime
    value: float
    score: float
    flag: bool | None = Field(description="score >= threshold; null when the detector has no threshold")


class ScoreAnswer(BaseModel):
    detector: str
    model_version: str
    threshold: float | None
    scores: list[ScoreOut] = Field(description="per series and channel, in timestamp order")
    state_token: str | None = Field(default=None, description="continue this series with it (requests with "
                                    "series_id only)")


# ---------------------------------------------------------------------------------------------------- feedback
class FeedbackIn(BaseModel):
    """A verdict on an anomaly event: ``label`` (or ``is_true_positive``), a note, and who says so (``reviewer``
    here or the ``X-Reviewer`` header)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="the event's id (16 hex digits)")
    label: Literal["true_positive", "false_positive"] | None = None
    is_true_positive: bool | None = None
    note: str | None = Field(default=None, max_length=4000)
    reviewer: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _verdict(self) -> FeedbackIn:
        if self.label is None and self.is_true_positive is None:
            raise ValueError("label is missing: expected 'true_positive' or 'false_positive' (or is_true_positive)")
        if self.label is not None and self.is_true_positive is not None and \
                (self.label == "true_positive") != self.is_true_positive:
            raise ValueError(f"label {self.label!r} contradicts is_true_positive={self.is_true_positive}")
        return self

    @property
    def verdict(self) -> bool:
        """True for a true positive."""
        return self.label == "true_positive" if self.label is not None else bool(self.is_true_positive)


class FeedbackOut(BaseModel):
    feedback_id: str
    event_id: str
    series_id: str
    channel: str
    event_start: datetime
    detector: str
    model_version: str
    label: str
    is_true_positive: bool
    note: str | None
    reviewer: str | None
    source: str
    created_at: datetime

