"""The source interface: read raw readings (all text, as found) plus what could not be read."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

# Columns every source yields; ingest adds ingest_id and ingested_at to make bronze rows.
RAW_COLUMNS = (
    "series_id", "channel", "ts_raw", "value_raw", "raw_record",
    "source_name", "source", "source_version", "record_order",
)
RAW_SCHEMA = ", ".join(f"{c} {'long' if c == 'record_order' else 'string'}" for c in RAW_COLUMNS)


@dataclass(frozen=True)
class RejectedFile:
    """A file of a source that could not be read at all, and why."""

    path: str
    version: str
    reason: str


@dataclass(frozen=True)
class ParseSpec:
    """How refine turns this source's raw text into typed readings."""

    timestamp_format: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class RawRead:
    """What a source read: raw rows (RAW_COLUMNS), rejected files, and labelled windows if it has any.

    `labels` has columns series_id, window_start, window_end, kind (see schemas.GOLD_LABELS).
    """

    rows: DataFrame
    rejected: tuple[RejectedFile, ...] = ()
    labels: DataFrame | None = None
    files_read: int = 0
    files_skipped: int = 0


# (source, source_version) pairs already in bronze, asked for by a source once it knows what it holds.
KnownSources = Callable[[], Collection[tuple[str, str]]]


def nothing_known() -> Collection[tuple[str, str]]:
    """The KnownSources of an empty lakehouse."""
    return ()


class Source(Protocol):
    """Anything that can read raw readings with Spark."""

    name: str
    parse: ParseSpec

    def read(self, spark: SparkSession, known: KnownSources = nothing_known) -> RawRead:
        """Read the source's raw rows; raise SourceError if the whole source is unreadable.

        A source that can tell its parts apart before reading them (a file source: by path and version)
        leaves out those `known()` names; ingest drops any other known rows after reading.
        """
        ...
