"""The NAB bar for the default detector, on the full corpus (skipped without the corpus or without numba,
where a pure-Python run would take too long)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakewatch.detectors import HAVE_NUMBA, evaluate_on_nab, get_detector

NAB_DIR = Path(os.environ.get("LAKEWATCH_NAB_DIR", "/work/shared/nab"))


@pytest.mark.skipif(not (NAB_DIR / "labels" / "combined_windows.json").is_file(), reason="NAB corpus not found")
@pytest.mark.skipif(not HAVE_NUMBA, reason="needs numba: without it the corpus takes about a minute")
def test_default_detector_reaches_the_nab_bar_on_the_full_corpus() -> None:
    scores = evaluate_on_nab(NAB_DIR, get_detector("default"))
    assert scores["standard"] >= 70.0, scores
    assert scores["reward_low_FP_rate"] >= 63.0, scores
    assert scores["reward_low_FN_rate"] >= 75.0, scores
