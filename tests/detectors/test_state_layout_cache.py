"""state_from_bytes after a first parse (checked layout reused): same state, same errors for bad bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lakewatch.detectors import StateError, get_detector
from lakewatch.detectors.base import _flatten
from tests.detectors import make_series, timestamps


def _scored(name: str = "lakewatch_nab", n: int = 300):
    det = get_detector(name)
    _, state = det.update(det.new_state(), make_series(n), timestamps(n))
    return det, state, det.state_to_bytes(state)


def test_repeated_parses_give_equal_independent_writable_states() -> None:
    det, state, blob = _scored()
    first, second = det.state_from_bytes(blob), det.state_from_bytes(bytearray(blob))
    for parsed in (first, second):
        assert parsed.detector == state.detector and parsed.fingerprint == state.fingerprint
        assert [p for p, _ in _flatten(parsed.arrays)] == [p for p, _ in _flatten(state.arrays)]
        for (_, got), (_, want) in zip(_flatten(parsed.arrays), _flatten(state.arrays), strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want) and got.flags.writeable
    for (_, a), (_, b), (_, want) in zip(_flatten(first.arrays), _flatten(second.arrays), _flatten(state.arrays),
                                         strict=True):
        a[...] = 1  # arrays own their data: changing one parse changes nothing else
        assert np.array_equal(b, want)
    assert det.state_to_bytes(second) == blob
    scores_a, _ = det.update(det.state_from_bytes(blob), make_series(50), timestamps(350)[300:])
    scores_b, _ = det.update(state, make_series(50), timestamps(350)[300:])
    assert np.array_equal(scores_a, scores_b)


def test_bad_bytes_after_a_good_parse_raise_the_same_errors() -> None:
    det, _, blob = _scored()
    det.state_from_bytes(blob)  # the layout of this header is now known
    with pytest.raises(StateError, match="truncated"):
        det.state_from_bytes(blob[:-8])
    with pytest.raises(StateError, match="1 unexpected byte"):
        det.state_from_bytes(blob + b"\0")
    other, _, _ = _scored("knn")
    with pytest.raises(StateError, match="state belongs to detector"):
        other.state_from_bytes(blob)
    renamed = get_detector("lakewatch_nab")
    assert renamed.state_from_bytes(blob).detector == det.state_from_bytes(blob).detector
