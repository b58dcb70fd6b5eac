"""FastAPI dependencies: the app's LakeReader, settings, scorer cache and the write endpoints' key check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from lakewatch.api.scoring import ScorerCache
from lakewatch.api.security import api_key_header, check_key, presented_key
from lakewatch.api.settings import ApiSettings
from lakewatch.config import LakewatchConfig
from lakewatch.readers import LakeReader


@dataclass
class AppState:
    """What every request shares: the config, the API settings, the key read at start, the reader and scorers."""

    config: LakewatchConfig
    settings: ApiSettings
    api_key: str | None
    state_key: str | None
    reader: LakeReader
    scorers: ScorerCache


def app_state(request: Request) -> AppState:
    """The app's shared state."""
    return request.app.state.lakewatch


def reader(request: Request) -> LakeReader:
    """The app's LakeReader."""
    return app_state(request).reader


def require_key(request: Request, _documented: Annotated[str | None, Depends(api_key_header)]) -> None:
    """Refuse the request (401/403) unless it carries the configured API key."""
    state = app_state(request)
    check_key(state.api_key, state.settings.key_env, presented_key(request))
