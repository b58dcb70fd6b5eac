"""Bucketed stream state: many series' state rows in one state-store row, and back."""

from __future__ import annotations

import numpy as np
import pytest

from lakewatch.streaming.state import OpenEvent, SeriesState, StreamStateError, read_bucket, write_bucket


def test_a_bucket_gives_back_every_series_state():
    first = SeriesState(detector=b"\x01" * 3000, held_ts=np.array([5, 6]), held_values=np.array([1.5, 2.5]),
                        open_event=OpenEvent(1, 2, 2, 0.9, 2), rows_scored=40)
    states = {("a", "value"): first.to_row(), ("b", "temp"): SeriesState(detector=b"x").to_row()}
    back = read_bucket(write_bucket(states))
    assert sorted(back) == [("a", "value"), ("b", "temp")]
    again = SeriesState.from_row(back[("a", "value")])
    assert again.detector == first.detector and again.open_event == first.open_event
    assert again.held_ts.tolist() == [5, 6] and again.rows_scored == 40
    assert read_bucket(write_bucket({})) == {}


def test_a_damaged_or_foreign_bucket_is_a_clear_error():
    version, blob = write_bucket({("a", "value"): SeriesState(detector=b"x").to_row()})
    with pytest.raises(StreamStateError, match="damaged"):
        read_bucket((version, blob[: len(blob) // 2]))
    with pytest.raises(StreamStateError, match="version 99"):
        read_bucket((99, blob))
