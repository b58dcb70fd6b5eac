"""What the score stream keeps per (series_id, channel) in Spark's state store, and its Spark schema.

Per series: the detector's state bytes (Detector.state_to_bytes), the explanation trail bytes
(lakewatch.explain.ExplainTrail.to_bytes, empty when explanations are off), the ordering bookkeeping (last scored
and newest seen timestamp), the rows held back by the watermark, and the anomaly event still open. A multichannel
entity (lakewatch.streaming.entities) has one such state under (series_id, '*'); its held readings keep their
channel indexes after their timestamps in ``held_ts``.

Stored one state row per series (STATE_SCHEMA, the default), or with ``streaming.state_buckets`` one row per
bucket of series (BUCKET_STATE_SCHEMA): the bucket's series states as one Arrow IPC blob, so Spark's per-group
cost is paid once per bucket instead of once per series.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type

STATE_VERSION = 2  # 2: detector and trail bytes LZ4-compressed; 1 (read, never written): uncompressed
READABLE_VERSIONS = (1, 2)
NO_TIME = np.iinfo(np.int64).min
# The default detector's state is ~84 kB and compresses about 3.3x with LZ4 at ~0.1 ms a series; the state
# store moves every series' state twice per micro-batch (JVM <-> Python, RocksDB and its changelog), which
# costs more per byte than the compression does (BENCHMARKS.md, streaming).
_CODEC = pa.Codec("lz4")
_SIZE = struct.Struct("<I")

STATE_SCHEMA = T.StructType([
    T.StructField("version", T.IntegerType()),
    T.StructField("detector", T.BinaryType()),
    T.StructField("trail", T.BinaryType()),
    T.StructField("last_scored_ns", T.LongType()),
    T.StructField("max_seen_ns", T.LongType()),
    T.StructField("held_ts", T.BinaryType()),
    T.StructField("held_values", T.BinaryType()),
    T.StructField("open_event", T.StringType()),
    T.StructField("rows_scored", T.LongType()),
])


BUCKET_STATE_VERSION = 1
BUCKET_STATE_SCHEMA = T.StructType([
    T.StructField("version", T.IntegerType()),
    T.StructField("series", T.BinaryType()),  # Arrow IPC stream: key columns + STATE_SCHEMA's, one row a series
])
_BUCKET_ARROW = pa.schema([("series_id", pa.string()), ("channel", pa.string())]
                          + [(f.name, to_arrow_type(f.dataType)) for f in STATE_SCHEMA])
SeriesKey = tuple[str, str]


class StreamStateError(ValueError):
    """A stored per-series stream state cannot be read by this version of the job."""


@dataclass(frozen=True)
class OpenEvent:
    """An anomaly event not closed yet: first and last flagged row, the peak and its attributions."""

    start_ns: int
    end_ns: int
    peak_ns: int
    peak_score: float
    points: int
    gap: int = 0
    base_value: float | None = None
    top: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> str:
        """The event as a compact JSON string (kept in the state row)."""
        return json.dumps([self.start_ns, self.end_ns, self.peak_ns, self.peak_score, self.points, self.gap,
                           self.base_value, [list(t) for t in self.top]], separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OpenEvent:
        """Inverse of :meth:`to_json`."""
        s, e, p, score, n, gap, base, top = json.loads(text)
        return cls(int(s), int(e), int(p), float(score), int(n), int(gap), base, tuple((str(a), float(b))
                                                                                      for a, b in top))


@dataclass(frozen=True)
class SeriesState:
    """The stream's state of one series (see the module docstring); ``detector`` empty means a new series."""

    detector: bytes = b""
    trail: bytes = b""
    last_scored_ns: int = int(NO_TIME)
    max_seen_ns: int = int(NO_TIME)
    held_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    held_values: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    open_event: OpenEvent | None = None
    rows_scored: int = 0

    @property
    def is_new(self) -> bool:
        """True for a series never scored before."""
        return not self.detector

    def to_row(self) -> tuple[Any, ...]:
        """The state as a tuple in STATE_SCHEMA's order (what GroupState.update takes)."""
        return (STATE_VERSION, _compress(self.detector), _compress(self.trail), int(self.last_scored_ns),
                int(self.max_seen_ns),
                np.ascontiguousarray(self.held_ts, np.int64).tobytes(),
                np.ascontiguousarray(self.held_values, np.float64).tobytes(),
                self.open_event.to_json() if self.open_event else None, int(self.rows_scored))

    @classmethod
    def from_row(cls, row: Any) -> SeriesState:
        """Rebuild a state from a STATE_SCHEMA row (tuple or Row); StreamStateError for another version."""
        version = row[0]
        if version not in READABLE_VERSIONS:
            raise StreamStateError(f"stream state has version {version!r}; this job reads versions "
                                   f"{', '.join(map(str, READABLE_VERSIONS))} (start the query from a new checkpoint)")
        unpack = _decompress if version >= 2 else bytes
        return cls(detector=unpack(row[1] or b""), trail=unpack(row[2] or b""), last_scored_ns=int(row[3]),
                   max_seen_ns=int(row[4]), held_ts=np.frombuffer(bytes(row[5] or b""), np.int64),
                   held_values=np.frombuffer(bytes(row[6] or b""), np.float64),
                   open_event=OpenEvent.from_json(row[7]) if row[7] else None, rows_scored=int(row[8]))


def _compress(data: bytes) -> bytes:
    """`data` LZ4-compressed behind its length (empty stays empty)."""
    return _SIZE.pack(len(data)) + _CODEC.compress(data, asbytes=True) if data else b""


def _decompress(data: bytes) -> bytes:
    """Inverse of :func:`_compress`; StreamStateError when the bytes are not what it wrote."""
    if not data:
        return b""
    try:
        (size,) = _SIZE.unpack_from(data)
        out = _CODEC.decompress(memoryview(data)[_SIZE.size:], decompressed_size=size, asbytes=True)
    except (struct.error, OSError, pa.ArrowException) as exc:
        raise StreamStateError(f"stream state bytes are damaged: {exc}") from exc
    return out


def read_bucket(row: Any) -> dict[SeriesKey, tuple[Any, ...]]:
    """The STATE_SCHEMA rows (tuples, for :meth:`SeriesState.from_row`) of a BUCKET_STATE_SCHEMA row, by
    (series_id, channel); StreamStateError for another version or damaged bytes."""
    version, blob = row[0], row[1]
    if version != BUCKET_STATE_VERSION:
        raise StreamStateError(f"bucketed stream state has version {version!r}; this job reads version "
                               f"{BUCKET_STATE_VERSION} (start the query from a new checkpoint)")
    try:
        table = pa.ipc.open_stream(bytes(blob)).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise StreamStateError(f"bucketed stream state bytes are damaged: {exc}") from exc
    columns = [table[name].to_pylist() for name in _BUCKET_ARROW.names]
    return {(sid, ch): rest for sid, ch, *rest in zip(*columns, strict=True)}


def write_bucket(states: dict[SeriesKey, tuple[Any, ...]]) -> tuple[int, bytes]:
    """The BUCKET_STATE_SCHEMA row holding `states` (STATE_SCHEMA tuples by (series_id, channel))."""
    columns = list(zip(*((sid, ch, *row) for (sid, ch), row in states.items()), strict=True)) or [
        () for _ in _BUCKET_ARROW.names]
    table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, _BUCKET_ARROW, strict=True)],
                                 schema=_BUCKET_ARROW)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, _BUCKET_ARROW) as writer:
        writer.write_table(table)
    return BUCKET_STATE_VERSION, sink.getvalue().to_pybytes()
