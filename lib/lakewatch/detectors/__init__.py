"""Streaming anomaly detectors (pure numpy, numba-accelerated when available), one interface for batch and
streaming jobs: ``update(state, values, timestamps) -> (scores, new_state)`` with serialisable bounded state.

Build detectors by name from the configuration's detector catalog (``conf/detectors.yaml``, layered by
:mod:`lakewatch.config`) with :func:`get_detector`; :func:`available_detectors` lists the names. Scoring a
detector on the Numenta Anomaly Benchmark is ``lakewatch.evaluation``'s job: this package imports nothing of
lakewatch but itself, ``lakewatch.config`` and ``lakewatch.errors``.
"""

from __future__ import annotations

from lakewatch.detectors._healthy import HealthyStart, healthy_starts
from lakewatch.detectors._jit import HAVE_NUMBA, NUMBA_VERSION
from lakewatch.detectors.base import STATE_FORMAT_VERSION, Detector, DetectorParams, DetectorState
from lakewatch.detectors.ensemble import EnsembleDetector, EnsembleParams
from lakewatch.detectors.errors import (
    DetectorConfigError,
    DetectorError,
    DetectorInputError,
    DetectorParamsError,
    StateError,
    StateVersionError,
    UnknownDetectorError,
)
from lakewatch.detectors.holt_winters import HoltWintersDetector, HoltWintersParams
from lakewatch.detectors.knn import KnnDetector, KnnParams
from lakewatch.detectors.likelihood import LikelihoodDetector, LikelihoodParams
from lakewatch.detectors.mknn import MknnParams, MultiKnnDetector
from lakewatch.detectors.multivariate import MahalanobisDetector, MahalanobisParams
from lakewatch.detectors.pca import PcaParams, PcaT2QDetector
from lakewatch.detectors.record import RecordDetector, RecordParams
from lakewatch.detectors.registry import available_detectors, default_catalog, default_detector_name, get_detector
from lakewatch.detectors.robust_zscore import RobustZParams, RobustZScoreDetector
from lakewatch.detectors.windowed_gaussian import WindowedGaussianDetector, WindowedGaussianParams

__all__ = [
    "HAVE_NUMBA",
    "NUMBA_VERSION",
    "STATE_FORMAT_VERSION",
    "Detector",
    "DetectorConfigError",
    "DetectorError",
    "DetectorInputError",
    "DetectorParams",
    "DetectorParamsError",
    "DetectorState",
    "EnsembleDetector",
    "EnsembleParams",
    "HealthyStart",
    "HoltWintersDetector",
    "HoltWintersParams",
    "KnnDetector",
    "KnnParams",
    "LikelihoodDetector",
    "LikelihoodParams",
    "MahalanobisDetector",
    "MahalanobisParams",
    "MknnParams",
    "MultiKnnDetector",
    "PcaParams",
    "PcaT2QDetector",
    "RecordDetector",
    "RecordParams",
    "RobustZParams",
    "RobustZScoreDetector",
    "StateError",
    "StateVersionError",
    "UnknownDetectorError",
    "WindowedGaussianDetector",
    "WindowedGaussianParams",
    "available_detectors",
    "default_catalog",
    "default_detector_name",
    "get_detector",
    "healthy_starts",
]
