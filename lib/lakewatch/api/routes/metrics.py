"""GET /metrics: Prometheus' text format (prometheus-client) of the lakehouse and of the API's own requests."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Every metric of lakewatch.api.metrics plus ``lakewatch_api_requests_total`` and
    ``lakewatch_api_request_seconds`` (by method, route template and status)."""
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
