"""Readings packed per series in the source tasks: every reading kept once, in arrival order per series."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import types as T

from lakewatch.streaming.packing import pack_batches, packed_schema


def _batch(ids: list[str], first: int) -> pa.RecordBatch:
    n = len(ids)
    return pa.RecordBatch.from_pydict({"series_id": ids, "channel": ["value"] * n,
                                       "ts_us": np.arange(first, first + n, dtype=np.int64),
                                       "value": np.arange(first, first + n, dtype=np.float64) / 2})


def test_each_series_becomes_rows_of_arrays_holding_all_its_readings_in_arrival_order():
    batches = [_batch(["a", "b", "a", "c"], 0), _batch(["b", "a"], 4), _batch(["c"], 6)]
    packed = pa.Table.from_batches(list(pack_batches(iter(batches))))
    got = {r["series_id"]: (r["ts_us"], r["value"]) for r in packed.to_pylist()}
    assert got == {"a": ([0, 2, 5], [0.0, 1.0, 2.5]), "b": ([1, 4], [0.5, 2.0]), "c": ([3, 6], [1.5, 3.0])}


def test_a_large_task_packs_in_pieces_without_losing_a_reading():
    batches = [_batch(["a", "b"] * 3, 6 * i) for i in range(5)]
    rows = [r for b in pack_batches(iter(batches), pack_rows=12) for r in b.to_pylist()]
    assert len(rows) == 6  # packs of 12, 12 and 6 readings, each with both series
    for series in ("a", "b"):
        stamps = [t for r in rows if r["series_id"] == series for t in r["ts_us"]]
        assert stamps == sorted(stamps) and len(stamps) == 15


def test_the_packed_key_keeps_the_readings_nullability_which_a_checkpoint_fixes():
    readings = T.StructType([T.StructField("series_id", T.StringType(), False),
                             T.StructField("channel", T.StringType(), False),
                             T.StructField("ts_us", T.LongType()), T.StructField("value", T.DoubleType())])
    schema = packed_schema(readings)
    assert [(f.name, f.nullable) for f in schema.fields[:2]] == [("series_id", False), ("channel", False)]
    assert [f.dataType for f in schema.fields[2:]] == [T.ArrayType(T.LongType()), T.ArrayType(T.DoubleType())]
