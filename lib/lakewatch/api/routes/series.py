"""GET /series/{series_id}/scores: a series' scored readings in a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lakewatch.api import data
from lakewatch.api.deps import AppState, app_state
from lakewatch.api.errors import ApiError
from lakewatch.api.models import ErrorAnswer, SeriesScores, utc

router = APIRouter(prefix="/series", tags=["series"])


@router.get("/{series_id}/scores", response_model=SeriesScores,
            responses={404: {"model": ErrorAnswer}, 422: {"model": ErrorAnswer}, 503: {"model": ErrorAnswer}},
            summary="Scored readings of one series")
def series_scores(state: Annotated[AppState, Depends(app_state)], series_id: str,
                  start: Annotated[datetime | None, Query(alias="from", description="from (ISO-8601, inclusive)")]
                  = None,
                  end: Annotated[datetime | None, Query(alias="to", description="to (ISO-8601, inclusive)")] = None,
                  channel: Annotated[str | None, Query(min_length=1, description="one channel (default all)")] = None
                  ) -> dict:
    """gold.anomaly_scores rows of the series between ``from`` and ``to``, oldest first, at most ``api.max_points``
    (``truncated`` says when more matched). 404 naming the series when the lakehouse does not hold it."""
    start, end = (utc(start) if start else None), (utc(end) if end else None)
    if start and end and start > end:
        raise ApiError(422, "query.from", f"query.from ({start.isoformat()}) is after query.to ({end.isoformat()})")
    items, truncated = data.series_scores(state.reader, series_id, channel, start, end, state.settings.max_points)
    return {"series_id": series_id, "items": items, "truncated": truncated}
