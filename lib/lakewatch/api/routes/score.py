"""POST /score: readings in, scores out, in-process (the default detector, another of the catalog, or the
registry's champion); state kept between calls only through a signed state token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from lakewatch.api import scoring
from lakewatch.api.deps import AppState, app_state, require_key
from lakewatch.api.errors import ApiError
from lakewatch.api.models import ErrorAnswer, ScoreAnswer, ScoreRequest, utc

router = APIRouter(tags=["scoring"])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(value: datetime) -> int:
    delta = utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@router.post("/score", response_model=ScoreAnswer, dependencies=[Depends(require_key)],
             responses={code: {"model": ErrorAnswer} for code in (400, 401, 403, 413, 422, 503)},
             summary="Score readings in-process")
def score(request: ScoreRequest, state: Annotated[AppState, Depends(app_state)]) -> dict:
    """Score each series' readings causally (timestamp order). With ``series_id`` the answer's ``state_token``
    continues the series in the next call; a token that was altered or belongs to another series or detector is
    refused (400 naming ``state_token``)."""
    if len(request.readings) > state.settings.max_readings:
        raise ApiError(413, "readings", f"readings: {len(request.readings)} readings; the limit is "
                       f"{state.settings.max_readings} per request (api.max_readings)")
    try:
        scorer = state.scorers.get(request.model)
        readings = [scoring.Reading(i, r.series_id or request.series_id or "", r.channel, _ns(r.timestamp), r.value)
                    for i, r in enumerate(request.readings)]
        states = None
        if request.state_token is not None:
            states = scoring.read_token(_state_key(state), request.state_token, request.series_id or "", scorer)
        results, after = scoring.score(scorer, readings, states)
        token = None
        if request.series_id is not None:
            kept = dict(states or {})
            kept.update({channel: value for (_, channel), value in after.items()})
            token = scoring.issue_token(_state_key(state), request.series_id, scorer, kept)
    except scoring.ScoreRequestError as exc:
        raise ApiError(exc.status, exc.field, str(exc)) from exc
    scores = [{**r, "timestamp": datetime.fromtimestamp(r["timestamp_ns"] / 1e9, UTC)} for r in results]
    return {"detector": scorer.name, "model_version": scorer.model_version, "threshold": scorer.threshold,
            "scores": scores, "state_token": token}


def _state_key(state: AppState) -> str:
    if not state.state_key:
        raise ApiError(503, "state_token", f"state tokens need a signing key: set {state.settings.state_key_env} "
                       "(api.state_key_env) or the API key")
    return state.state_key
