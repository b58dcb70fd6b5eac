"""Exception classes: each message names the input, what was found and what was expected."""

from __future__ import annotations


class LakewatchError(Exception):
    """Base class of every error lakewatch raises on purpose."""


class ConfigError(LakewatchError, ValueError):
    """A configuration file or override is missing, malformed or out of range."""


class SourceError(LakewatchError):
    """A whole source cannot be read (missing path, no readable file)."""


class ValidationFailed(LakewatchError):
    """Data failed its expectation suite and must not be promoted."""

    def __init__(self, message: str, failures: list[dict] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class CatalogError(LakewatchError):
    """The lakehouse's catalog (the metastore every driver shares) cannot be started or reached."""
