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


class TableError(LakewatchError):
    """A lakehouse table is not where or what lakewatch expects (no catalog location, an unknown table key)."""


class SchemaMismatch(TableError, ValueError):
    """A DataFrame lacks the columns of the table schema it is written to."""


class StageError(LakewatchError):
    """A pipeline stage's result does not add up (rows lost between the tables it reads and writes)."""


class ModelError(LakewatchError, ValueError):
    """A deep model's spec, scaler or calibration is malformed or cannot be built from the data given."""


class ModelSpecError(ModelError):
    """A model spec or its scaler names an unknown kind or mode, or a size out of range."""


class CalibrationError(ModelError):
    """Score calibration was asked to fit on no usable reconstruction error."""


class TableNotFound(LakewatchError, LookupError):
    """A lakehouse table a reader needs does not exist yet (an empty or new lakehouse).

    Attributes: ``table_name`` (catalog name), ``location`` (where its Delta log was looked for) and ``hint``
    (the command that creates it), so that an app can show the hint instead of a stack trace.
    """

    def __init__(self, table_name: str, location: str, hint: str) -> None:
        super().__init__(f"table {table_name} does not exist yet (no Delta table at {location}); {hint}")
        self.table_name = table_name
        self.location = location
        self.hint = hint


class NoSuchSeries(LakewatchError, LookupError):
    """A series (and channel) asked for is not in the lakehouse; apps map it to "not found" (HTTP 404).

    Attributes: ``series_id``, ``channel`` (None when not asked for) and ``where`` (what was searched).
    """

    def __init__(self, series_id: str, where: str, channel: str | None = None, explanation: str = "") -> None:
        what = f"series {series_id!r}" + (f" channel {channel!r}" if channel is not None else "")
        super().__init__(f"no such series: {what} is not in {where}" + (f" ({explanation})" if explanation else ""))
        self.series_id = series_id
        self.channel = channel
        self.where = where
        self.explanation = explanation


class CatalogError(LakewatchError):
    """The lakehouse's catalog (the metastore every driver shares) cannot be started or reached."""
