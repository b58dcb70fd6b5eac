"""The FastAPI application: ``create_app(config)`` wires the reader, the settings, the routers, the error
answers, the body size limit and the metrics registry."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from lakewatch.api.deps import AppState
from lakewatch.api.errors import BodyLimit, install_handlers
from lakewatch.api.metrics import LakehouseCollector
from lakewatch.api.routes import anomalies, feedback, health, metrics, score, series
from lakewatch.api.scoring import ScorerCache
from lakewatch.api.settings import ApiSettings, api_settings
from lakewatch.config import LakewatchConfig
from lakewatch.readers import LakeReader

TITLE = "lakewatch API"
DESCRIPTION = """Anomaly events, scores and feedback of a lakewatch lakehouse, read from its Delta tables (no Spark).

Write endpoints (`POST /score`, `POST /feedback`) need the API key (header `X-API-Key`), configured through the
environment variable named by `api.key_env`. Errors are JSON `{"detail", "field"}`."""


def create_app(config: LakewatchConfig, reader: LakeReader | None = None,
               settings: ApiSettings | None = None) -> FastAPI:
    """The API over `config`'s lakehouse. `reader` defaults to a new LakeReader (closed when the app stops);
    `settings` to the config's ``api:`` section. The API key is read from the environment now."""
    settings = settings or api_settings(config)
    own_reader = reader is None
    reader = reader or LakeReader(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=app.state.lakewatch.scorers.warm_up, name="score-warm-up", daemon=True).start()
        yield
        if own_reader:
            reader.close()

    app = FastAPI(title=TITLE, description=DESCRIPTION, version="1", lifespan=lifespan)
    app.state.lakewatch = AppState(config, settings, settings.api_key(), settings.state_key(), reader,
                                   ScorerCache(config))
    registry = CollectorRegistry()
    registry.register(LakehouseCollector(reader, settings.metrics_cache_seconds))
    app.state.registry = registry
    # Innermost, so that the 413 a streaming body raises reaches FastAPI's request handling unwrapped.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    _request_metrics(app, registry)
    install_handlers(app, settings.max_body_bytes)
    for module in (health, anomalies, series, score, feedback, metrics):
        app.include_router(module.router)
    return app


def _request_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count and time every request by method, route template (not the raw path: ids would explode the label
    set) and status."""
    requests = Counter("lakewatch_api_requests", "API requests answered", ["method", "route", "status"],
                       registry=registry)
    seconds = Histogram("lakewatch_api_request_seconds", "API request duration", ["method", "route"],
                        registry=registry)

    @app.middleware("http")
    async def _measure(request: Request, call_next) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        requests.labels(request.method, template, str(response.status_code)).inc()
        seconds.labels(request.method, template).observe(time.perf_counter() - started)
        return response
