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
from lakewatch.detectors.nab_eval import NabSeries, load_nab_corpus, run_on_nab, score_nab_run
from lakewatch.evaluation import load_profiles, load_windows
from lakewatch.tuning.base import ObjectiveResult, TuningError

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
_CORPORA: dict[str, list[NabSeries]] = {}  # per process: a worker reads the corpus once for all its trials


def metric_name(profile: str) -> str:
    """The metric a profile's normalised NAB score is recorded under (``nab_standard``, ...)."""
    return f"nab_{profile}"


def check_corpus(corpus: str | Path) -> Path:
    """``corpus`` as a NAB checkout with at least one labelled data file; raises :class:`TuningError` naming
    what is missing."""
    root = Path(corpus)
    if not root.is_dir():
        raise TuningError(f"NAB corpus {str(root)!r} is not a directory")
    for needed in ("data", "labels/combined_windows.json", "config/profiles.json"):
        if not (root / needed).exists():
            raise TuningError(f"NAB corpus {str(root)!r}: no {needed} there; expected a NAB checkout")
    windows = load_windows(root / "labels" / "combined_windows.json")
    if not windows:
        raise TuningError(f"NAB corpus {str(root)!r}: labels/combined_windows.json lists no data file")
    missing = sorted(key for key in windows if not (root / "data" / key).is_file())
    if missing:
        raise TuningError(f"NAB corpus {str(root)!r}: {len(missing)} labelled file(s) missing under data/, "
                          f"e.g. {missing[:3]}")
    profiles = load_profiles(root / "config" / "profiles.json")
    absent = [p for p in PROFILES if p not in profiles]
    if absent:
        raise TuningError(f"NAB corpus {str(root)!r}: config/profiles.json lacks profile(s) {absent}")
    return root


def _corpus(path: str) -> list[NabSeries]:
    if path not in _CORPORA:
        _CORPORA[path] = load_nab_corpus(path)
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
