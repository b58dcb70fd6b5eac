"""The default detector's NAB scores on the full corpus, in process (skipped without the corpus or without numba,
where a pure-Python run would take too long). The scores are pinned: a refactoring must not move them."""

from __future__ import annotations

import pytest

from lakewatch.detectors import HAVE_NUMBA, get_detector
from lakewatch.evaluation import NabCorpus, evaluate_on_nab
from tests.conftest import nab_dir

#: The default detector's normalised scores per profile, to 0.01 as the README and BENCHMARKS report them.
DEFAULT_SCORES = {"standard": 74.96, "reward_low_FP_rate": 66.20, "reward_low_FN_rate": 80.15}


@pytest.mark.skipif(not HAVE_NUMBA, reason="needs numba: without it the corpus takes about a minute")
def test_default_detector_scores_on_the_full_corpus_are_unchanged() -> None:
    scores = evaluate_on_nab(NabCorpus(nab_dir()), get_detector("default"))
    assert {name: round(value, 2) for name, value in scores.items()} == DEFAULT_SCORES, scores
