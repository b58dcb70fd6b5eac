"""In-process NAB evaluation of a detector (Spark-free): run it over every corpus file, score with the NAB scorer.

``evaluate_on_nab(corpus, detector)`` returns the normalised score (0-100) per cost profile, the threshold
being optimised corpus-wide per profile as NAB does. ``run_on_nab`` gives the per-file outputs and the
throughput as well; ``benchmark_on_nab`` scores and times several registry detectors. ``corpus`` is a
:class:`~lakewatch.evaluation.corpus.NabCorpus` or the path of a NAB checkout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lakewatch.detectors import Detector, available_detectors, get_detector
from lakewatch.evaluation.corpus import NabCorpus, NabSeries
from lakewatch.evaluation.nab_scoring import score_all_profiles


@dataclass(frozen=True)
class NabRun:
    """A detector's outputs over the corpus and how long scoring took (reading files excluded)."""

    detector: str
    frames: dict[str, pd.DataFrame]
    rows: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        """Scoring throughput over the whole corpus."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _as_detector(detector: Detector | str) -> Detector:
    return get_detector(detector) if isinstance(detector, str) else detector


def run_on_nab(corpus: NabCorpus | str | Path, detector: Detector | str,
               series: list[NabSeries] | None = None) -> NabRun:
    """Score every NAB file with a fresh state per file, in one batch per file; time the scoring only.

    ``series``, when given, is the corpus already read (``NabCorpus.series()``), so repeated runs read it once.
    Each frame of the returned :class:`NabRun` has columns timestamp and anomaly_score.
    """
    det = _as_detector(detector)
    series = series if series is not None else NabCorpus.at(corpus).series()
    frames: dict[str, pd.DataFrame] = {}
    seconds = 0.0
    rows = 0
    for item in series:
        start = time.perf_counter()
        scores = det.score_series(item.values, item.timestamps)
        seconds += time.perf_counter() - start
        rows += len(scores)
        frames[item.key] = pd.DataFrame({"timestamp": pd.to_datetime(item.timestamps), "anomaly_score": scores})
    return NabRun(det.name, frames, rows, seconds)


def score_nab_run(corpus: NabCorpus | str | Path, run: NabRun) -> dict[str, float]:
    """Normalised NAB score per profile of a :class:`NabRun` (corpus-wide threshold per profile)."""
    corpus = NabCorpus.at(corpus)
    results = score_all_profiles(run.frames, corpus.windows(), corpus.profiles())
    return {name: result.normalized for name, result in results.items()}


def evaluate_on_nab(corpus: NabCorpus | str | Path, detector: Detector | str) -> dict[str, float]:
    """Run ``detector`` (an instance or a registry name) over NAB; return ``{profile: normalised score}``."""
    return score_nab_run(corpus, run_on_nab(corpus, detector))


@dataclass(frozen=True)
class NabBenchmark:
    """One detector's NAB scores (normalised, per profile) and scoring throughput over the corpus."""

    detector: str
    scores: dict[str, float]
    points_per_second: float


def benchmark_on_nab(corpus: NabCorpus | str | Path, names: list[str] | None = None) -> list[NabBenchmark]:
    """Score and time registry detectors (all of them by default) over the NAB corpus.

    NAB is univariate, so a multivariate detector with a ``channels`` parameter runs with ``channels=1`` and
    one that still needs several channels (a wrapper around a multivariate detector) is left out. Each
    detector is first run on a short series so that compilation is not timed. Returns one
    :class:`NabBenchmark` per detector run, in the order given.
    """
    corpus = NabCorpus.at(corpus)
    series = corpus.series()
    out = []
    for name in names if names is not None else [n for n in available_detectors() if n != "default"]:
        det = get_detector(name)
        if det.multivariate and det.channels != 1 and "channels" in det.params.as_dict():
            det = get_detector(name, {"channels": 1})
        if det.channels != 1:
            continue
        det.score_series(series[0].values[:300], series[0].timestamps[:300])  # compile outside the timing
        run = run_on_nab(corpus, det, series)
        out.append(NabBenchmark(name, score_nab_run(corpus, run), run.points_per_second))
    return out
