"""GET /anomalies (filtered, paged) and GET /anomalies/{event_id} (with SHAP contributions and readings around)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from lakewatch.api import data
from lakewatch.api.deps import AppState, app_state
from lakewatch.api.errors import ApiError
from lakewatch.api.models import AnomalyDetail, AnomalyPage, ErrorAnswer, utc

router = APIRouter(prefix="/anomalies", tags=["anomalies"])
EVENT_ID = Path(pattern=r"^[0-9a-f]{16}$", description="the event's id (16 hex digits, lakewatch.event_ids)")


@router.get("", response_model=AnomalyPage, responses={404: {"model": ErrorAnswer}, 422: {"model": ErrorAnswer}},
            summary="Anomaly events, newest first")
def list_anomalies(state: Annotated[AppState, Depends(app_state)],
                   series: Annotated[str | None, Query(min_length=1, description="only this series")] = None,
                   channel: Annotated[str | None, Query(min_length=1, description="only this channel")] = None,
                   since: Annotated[datetime | None, Query(description="events ending at or after (ISO-8601)")] = None,
                   until: Annotated[datetime | None, Query(description="events starting at or before")] = None,
                   min_score: Annotated[float | None, Query(ge=0.0, le=1.0, description="peak score at least")] = None,
                   open_only: Annotated[bool, Query(alias="open", description="only events still open")] = False,
                   limit: Annotated[int | None, Query(ge=1, description="page size (api.page_size)")] = None,
                   offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Events of gold.anomalies that match every filter given, a page at a time (``next_offset`` for the next)."""
    settings = state.settings
    limit = limit or settings.page_size
    if limit > settings.max_page_size:
        raise ApiError(422, "query.limit", f"query.limit: {limit} is above api.max_page_size={settings.max_page_size}")
    since, until = (utc(since) if since else None), (utc(until) if until else None)
    if since and until and since > until:
        raise ApiError(422, "query.since", f"query.since ({since.isoformat()}) is after query.until "
                       f"({until.isoformat()})")
    if channel is not None and series is None:
        raise ApiError(422, "query.channel", "query.channel needs query.series")
    wanted = data.AnomalyFilter(series, channel, since, until, min_score, open_only)
    items, total = data.list_anomalies(state.reader, wanted, limit, offset)
    following = offset + len(items)
    note = None if state.reader.exists("gold_anomalies") else str(state.reader.not_found("gold_anomalies"))
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "next_offset": following if following < total else None, "note": note}


@router.get("/{event_id}", response_model=AnomalyDetail,
            responses={404: {"model": ErrorAnswer}, 422: {"model": ErrorAnswer}},
            summary="One anomaly event with its SHAP contributions and the readings around it")
def get_anomaly(state: Annotated[AppState, Depends(app_state)],
                event_id: Annotated[str, EVENT_ID]) -> dict:
    """The event, its contributions (largest absolute SHAP value first) and ``api.readings_around`` scored readings
    before and after it (the event's own readings marked ``in_event``)."""
    event = data.find_event(state.reader, event_id)
    if event is None:
        raise ApiError(404, "event_id", f"no anomaly event with event_id {event_id!r} in "
                       f"{state.reader.tables['gold_anomalies']}")
    return {**event, "contributions": data.contributions(event),
            "readings": data.readings_around(state.reader, event, state.settings.readings_around)}
