"""POST /feedback: a verdict on an anomaly event, appended to gold.feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header

from lakewatch.api import data
from lakewatch.api.deps import AppState, app_state, require_key
from lakewatch.api.errors import ApiError
from lakewatch.api.feedback import append_feedback, feedback_row
from lakewatch.api.models import ErrorAnswer, FeedbackIn, FeedbackOut

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackOut, status_code=201, dependencies=[Depends(require_key)],
             responses={code: {"model": ErrorAnswer} for code in (401, 403, 404, 413, 422)},
             summary="Mark an anomaly event a true or false positive")
def feedback(body: FeedbackIn, state: Annotated[AppState, Depends(app_state)],
             x_reviewer: Annotated[str | None, Header(max_length=200)] = None) -> dict:
    """Record the verdict (append-only: a new verdict on the same event is a new row; the newest counts). The
    reviewer is the body's ``reviewer``, else the ``X-Reviewer`` header. 404 naming ``event_id`` for an event that
    is not in gold.anomalies."""
    event = data.find_event(state.reader, body.event_id)
    if event is None:
        raise ApiError(404, "event_id", f"no anomaly event with event_id {body.event_id!r} in "
                       f"{state.reader.tables['gold_anomalies']}")
    row = feedback_row(event, body.verdict, body.note, body.reviewer or x_reviewer)
    append_feedback(state.reader, row)
    return row
