"""State serialisation: format version check, wrong detector, corrupted bytes, and input validation."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from lakewatch.detectors import (
    STATE_FORMAT_VERSION,
    DetectorInputError,
    StateError,
    StateVersionError,
    get_detector,
)
from tests.detectors import make_series, timestamps


def _state_bytes(name: str = "lakewatch_nab", n: int = 300) -> tuple[object, bytes]:
    det = get_detector(name)
    _, state = det.update(det.new_state(), make_series(n), timestamps(n))
    return det, det.state_to_bytes(state)


def test_version_mismatch_is_reported_with_both_versions() -> None:
    det, blob = _state_bytes()
    magic, version, head_len = struct.unpack_from("<4sHI", blob)
    assert version == STATE_FORMAT_VERSION
    future = struct.pack("<4sHI", magic, STATE_FORMAT_VERSION + 1, head_len) + blob[struct.calcsize("<4sHI") :]
    with pytest.raises(
        StateVersionError,
        match=rf"format version {STATE_FORMAT_VERSION + 1}.*reads version "
        rf"{STATE_FORMAT_VERSION}",
    ):
        det.state_from_bytes(future)


def test_bytes_of_another_detector_are_rejected() -> None:
    _, blob = _state_bytes("knn")
    other = get_detector("record_deviation")
    with pytest.raises(StateError, match="belongs to detector 'knn'"):
        other.state_from_bytes(blob)


def test_same_kind_with_other_params_is_rejected() -> None:
    _, blob = _state_bytes("knn")
    changed = get_detector("knn", {"memory": 500})
    with pytest.raises(StateError, match="fingerprint"):
        changed.state_from_bytes(blob)
    with pytest.raises(StateError, match="fingerprint"):
        changed.update(get_detector("knn").new_state(), make_series(5), timestamps(5))


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda b: b"XXXX" + b[4:], "magic"),
        (lambda b: b[:-8], "truncated|lack"),
        (lambda b: b + b"\0", "unexpected byte"),
        (lambda b: b[:5], "header"),
    ],
)
def test_corrupted_bytes_raise_state_error(mangle, message: str) -> None:
    det, blob = _state_bytes("record_deviation")
    with pytest.raises(StateError, match=message):
        det.state_from_bytes(mangle(blob))


def test_state_must_be_a_detector_state() -> None:
    det = get_detector("ewma")
    with pytest.raises(StateError, match="DetectorState"):
        det.update({"not": "a state"}, make_series(5), timestamps(5))


def test_input_shapes_and_types_are_checked() -> None:
    det = get_detector("robust_zscore")
    state = det.new_state()
    with pytest.raises(DetectorInputError, match=r"shape \(5, 2\).*univariate"):
        det.update(state, np.zeros((5, 2)), timestamps(5))
    with pytest.raises(DetectorInputError, match=r"timestamps have shape \(4,\); expected \(5,\)"):
        det.update(state, np.zeros(5), timestamps(4))
    with pytest.raises(DetectorInputError, match="dtype float64"):
        det.update(state, np.zeros(5), np.zeros(5))
    with pytest.raises(DetectorInputError, match="converted to float64"):
        det.update(state, ["a", "b"], timestamps(2))
    multi = get_detector("mahalanobis")
    with pytest.raises(DetectorInputError, match=r"expects \(n, 2\)"):
        multi.update(multi.new_state(), np.zeros((5, 3)), timestamps(5))


def test_datetime64_timestamps_and_column_vectors_are_accepted() -> None:
    det = get_detector("ewma")
    values = make_series(50)
    stamps = timestamps(50)
    as_ints = det.score_series(values, stamps)
    as_datetimes = det.score_series(values[:, None], stamps.astype("datetime64[ns]"))
    np.testing.assert_array_equal(as_ints, as_datetimes)


def test_empty_batch_is_a_no_op() -> None:
    det = get_detector("lakewatch_nab")
    state = det.new_state()
    scores, after = det.update(state, np.zeros(0), np.zeros(0, dtype=np.int64))
    assert scores.shape == (0,)
    assert det.state_to_bytes(after) == det.state_to_bytes(state)


def test_default_state_is_small() -> None:
    _, blob = _state_bytes("lakewatch_nab")
    assert len(blob) < 200_000
