"""In-process NAB evaluation of a detector: run it over every corpus file, score with the NAB scorer.

``evaluate_on_nab(nab_dir, detector)`` returns the normalised score (0-100) per cost profile, the threshold
being optimised corpus-wide per profile as NAB does. ``run_on_nab`` gives the per-file outputs and the
throughput as well; ``benchmark_on_nab`` scores and times several registry detectors. ``nab_dir`` is a NAB
checkout (``data/``, ``labels/combined_windows.json``, ``config/profiles.json``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lakewatch.detectors.base import Detector
from lakewatch.detectors.errors import DetectorConfigError
from lakewatch.detectors.registry import available_detectors, get_detector
from lakewatch.evaluation import load_profiles, load_windows, score_all_profiles


@dataclass(frozen=True)
class NabSeries:
    """One NAB data file: its key (``category/file.csv``), timestamps (epoch ns) and values."""

    key: str
    timestamps: np.ndarray
    values: np.ndarray


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


def load_nab_corpus(nab_dir: str | Path) -> list[NabSeries]:
    """Read every file listed in ``labels/combined_windows.json`` from ``data/`` (sorted by key)."""
    root = Path(nab_dir)
    windows = load_windows(root / "labels" / "combined_windows.json")
    series = []
    for key in sorted(windows):
        path = root / "data" / key
        if not path.is_file():
            raise DetectorConfigError(f"NAB data file {str(path)!r} is missing; expected one per labelled key")
        frame = pd.read_csv(path)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]").view(np.int64)
        series.append(NabSeries(key, stamps, frame["value"].to_numpy(dtype=np.float64)))
    return series


def _as_detector(detector: Detector | str) -> Detector:
    return get_detector(detector) if isinstance(detector, str) else detector


def run_on_nab(nab_dir: str | Path, detector: Detector | str, corpus: list[NabSeries] | None = None) -> NabRun:
    """Score every NAB file with a fresh state per file, in one batch per file; time the scoring only."""
    det = _as_detector(detector)
    corpus = corpus if corpus is not None else load_nab_corpus(nab_dir)
    frames: dict[str, pd.DataFrame] = {}
    seconds = 0.0
    rows = 0
    for item in corpus:
        start = time.perf_counter()
        scores = det.score_series(item.values, item.timestamps)
        seconds += time.perf_counter() - start
        rows += len(scores)
        frames[item.key] = pd.DataFrame({"timestamp": pd.to_datetime(item.timestamps), "anomaly_score": scores})
    return NabRun(det.name, frames, rows, seconds)


def score_nab_run(nab_dir: str | Path, run: NabRun) -> dict[str, float]:
    """Normalised NAB score per profile of a :class:`NabRun` (corpus-wide threshold per profile)."""
    root = Path(nab_dir)
    results = score_all_profiles(
        run.frames,
        load_windows(root / "labels" / "combined_windows.json"),
        load_profiles(root / "config" / "profiles.json"),
    )
    return {name: result.normalized for name, result in results.items()}


def evaluate_on_nab(nab_dir: str | Path, detector: Detector | str) -> dict[str, float]:
    """Run ``detector`` (an instance or a registry name) over NAB; return ``{profile: normalised score}``."""
    return score_nab_run(nab_dir, run_on_nab(nab_dir, detector))


@dataclass(frozen=True)
class NabBenchmark:
    """One detector's NAB scores (normalised, per profile) and scoring throughput over the corpus."""

    detector: str
    scores: dict[str, float]
    points_per_second: float


def benchmark_on_nab(nab_dir: str | Path, names: list[str] | None = None) -> list[NabBenchmark]:
    """Score and time registry detectors (all of them by default) over the NAB corpus.

    NAB is univariate, so a multivariate detector with a ``channels`` parameter runs with ``channels=1`` and
    one that still needs several channels (a wrapper around a multivariate detector) is left out. Each
    detector is first run on a short series so that compilation is not timed. Returns one
    :class:`NabBenchmark` per detector run, in the order given.
    """
    corpus = load_nab_corpus(nab_dir)
    out = []
    for name in names if names is not None else [n for n in available_detectors() if n != "default"]:
        det = get_detector(name)
        if det.multivariate and det.channels != 1 and "channels" in det.params.as_dict():
            det = get_detector(name, {"channels": 1})
        if det.channels != 1:
            continue
        det.score_series(corpus[0].values[:300], corpus[0].timestamps[:300])  # compile outside the timing
        run = run_on_nab(nab_dir, det, corpus)
        out.append(NabBenchmark(name, score_nab_run(nab_dir, run), run.points_per_second))
    return out
