"""GET /health: the tables and the stream's freshness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from lakewatch.api import data
from lakewatch.api.deps import AppState, app_state
from lakewatch.api.models import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Tables reachable, stream freshness")
def health(state: Annotated[AppState, Depends(app_state)]) -> dict:
    """``ok`` when every table the API reads exists and the stream's newest micro-batch is younger than
    ``api.stale_after_seconds``; otherwise ``degraded`` with the reasons and what to run. Always 200 while the API
    itself works, so a liveness probe does not restart the API for a stopped stream."""
    return data.health(state.reader, state.settings.stale_after_seconds)
