"""The NAB objective: the normalised NAB score of one detector configuration over a NAB corpus, in process.

A trial builds the registry detector with the sampled parameters over its configured ones, scores every corpus
file from a fresh state and scores the outputs the NAB v1.1 way (corpus-wide threshold per profile). The loss is
minus the chosen profile's normalised score; all three profiles are returned as metrics ``nab_<profile>``.
The corpus is read from its path on whichever process runs the trial (a Spark executor under SparkTrials), so
the path must be readable there: true for local mode and for clusters with a shared file system.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakewatch.config import DetectorCatalog
from lakewatch.detectors import get_detector
from lakewatch.evaluation.corpus import PROFILES, NabCorpus, NabSeries
from lakewatch.evaluation.in_process import run_on_nab, score_nab_run
from lakewatch.tuning.base import ObjectiveResult, TuningError

_CORPORA: dict[str, list[NabSeries]] = {}  # per process: a worker reads the corpus once for all its trials


def metric_name(profile: str) -> str:
    """The metric a profile's normalised NAB score is recorded under (``nab_standard``, ...)."""
    return f"nab_{profile}"


def _corpus(path: str) -> list[NabSeries]:
    if path not in _CORPORA:
        _CORPORA[path] = NabCorpus(Path(path)).series()
    return _CORPORA[path]


@dataclass(frozen=True)
class NabObjective:
    """Loss = minus the normalised NAB ``profile`` score of ``detector`` with the trial's parameters over the
    corpus at ``corpus`` (``fixed`` parameters apply to every trial, the trial's on top)."""

    corpus: str
    detector: str
    profile: str = "standard"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    catalog: DetectorCatalog | None = None  # config.detectors (None: the default configuration's)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise TuningError(f"NAB profile {self.profile!r} is not one of {list(PROFILES)}")

    def build(self, params: Mapping[str, Any]):
        """The detector a trial with ``params`` scores."""
        return get_detector(self.detector, {**self.fixed, **params} or None, catalog=self.catalog)

    def evaluate(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Normalised NAB score per profile (``nab_<profile>``) of the detector with ``params``."""
        run = run_on_nab(self.corpus, self.build(params), _corpus(self.corpus))
        return {metric_name(name): float(score) for name, score in score_nab_run(self.corpus, run).items()}

    def __call__(self, params: dict[str, Any]) -> ObjectiveResult:
        """Score one configuration (see the class docstring); also reports ``corpus_load_seconds`` (0 when this
        process had already read the corpus)."""
        began = time.perf_counter()
        _corpus(self.corpus)
        loaded = time.perf_counter() - began
        metrics = self.evaluate(params)
        return ObjectiveResult(-metrics[metric_name(self.profile)], {**metrics, "corpus_load_seconds": loaded},
                               time.perf_counter() - began)
