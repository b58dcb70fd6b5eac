"""The id of an anomaly event: one short string that every reader and actor derives the same way.

An event of gold.anomalies is keyed by (series_id, channel, start, detector, model_version) (schemas.EVENT_KEY); its
id is the first 16 hex digits of the SHA-256 of those five, joined by ``|`` with ``start`` as microseconds since the
epoch. The alerts outbox, the API (``/anomalies/{id}``), feedback and the dashboard all use it, so an id seen in an
alert opens the same event everywhere.

``EVENT_ID_SQL`` computes it in the SQL that Spark SQL and DuckDB both accept (DuckDB gets ``sha2`` and
``unix_micros`` as macros, readers/spark_functions.sql); ``{prefix}`` is the table alias with its dot, or empty.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

ID_LENGTH = 16

EVENT_ID_SQL = ("substr(sha2(concat_ws('|', {prefix}series_id, {prefix}channel, "
                "CAST(unix_micros({prefix}start) AS STRING), {prefix}detector, {prefix}model_version), 256), "
                f"1, {ID_LENGTH})")


def event_id_sql(alias: str = "") -> str:
    """EVENT_ID_SQL over the columns of `alias` (``"a"`` gives ``a.series_id``...), or unqualified columns."""
    return EVENT_ID_SQL.format(prefix=f"{alias}." if alias else "")


def start_micros(start: datetime | int) -> int:
    """Microseconds since the epoch of an event's start (a naive datetime is UTC; an int is already micros)."""
    if isinstance(start, int):
        return start
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    delta = start - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def event_id(series_id: str, channel: str, start: datetime | int, detector: str, model_version: str) -> str:
    """The id of the event with this key; `start` is a datetime (naive = UTC) or microseconds since the epoch."""
    text = "|".join((series_id, channel, str(start_micros(start)), detector, model_version))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def is_event_id(text: str) -> bool:
    """Whether `text` has the shape of an event id (16 lower-case hex digits)."""
    return len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)
