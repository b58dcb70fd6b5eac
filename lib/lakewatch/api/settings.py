"""Settings of the REST API (config section ``api:``), validated with lakewatch.config.validated."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from lakewatch.config import LakewatchConfig, NonNegativeInt, PositiveInt
from lakewatch.errors import ConfigError

SECTION = "api"
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
OptionalEnvName = Annotated[str, Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")]
Port = Annotated[int, Field(ge=1, le=65535)]


@dataclass(frozen=True)
class ApiSettings:
    """How the API serves (address, port), where its secrets are (names of environment variables, never the
    secrets) and the limits it enforces on requests and answers."""

    address: str = "127.0.0.1"
    port: Port = 8000
    key_env: EnvName = "LAKEWATCH_API_KEY"
    state_key_env: OptionalEnvName = ""
    max_body_bytes: PositiveInt = 1_048_576
    max_readings: PositiveInt = 10_000
    page_size: PositiveInt = 50
    max_page_size: PositiveInt = 1000
    max_points: PositiveInt = 20_000
    readings_around: NonNegativeInt = 12
    stale_after_seconds: PositiveInt = 900
    metrics_cache_seconds: NonNegativeInt = 5

    def __post_init__(self) -> None:
        if self.page_size > self.max_page_size:
            raise ConfigError(f"api.page_size={self.page_size} is above api.max_page_size={self.max_page_size}")

    def api_key(self) -> str | None:
        """The key of the write endpoints from the environment variable ``key_env`` (None when unset or empty)."""
        return os.environ.get(self.key_env) or None

    def state_key(self) -> str | None:
        """The key that signs /score state tokens: ``state_key_env``'s variable when named, else the API key."""
        if self.state_key_env:
            return os.environ.get(self.state_key_env) or None
        return self.api_key()


def api_settings(config: LakewatchConfig) -> ApiSettings:
    """The ``api:`` section of `config` (defaults for keys it leaves out); ConfigError naming a bad key."""
    return config.settings(SECTION, ApiSettings)
