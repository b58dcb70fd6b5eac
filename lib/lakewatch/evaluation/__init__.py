"""Evaluation of anomaly detectors: NAB v1.1 scoring and NAB corpus files (numpy/pandas, no Spark)."""

from lakewatch.evaluation.nab_corpus import (
    load_profiles,
    load_thresholds,
    load_windows,
    read_results_dir,
    write_results_dir,
)
from lakewatch.evaluation.nab_scoring import (
    CostProfile,
    FileScore,
    NabDataError,
    NabError,
    NabFileNotFoundError,
    ProfileResult,
    score_all_profiles,
    score_corpus,
    score_file,
    sweep_thresholds,
)
from lakewatch.evaluation.nab_threshold import probation_length, scaled_sigmoid

__all__ = [
    "CostProfile",
    "FileScore",
    "NabDataError",
    "NabError",
    "NabFileNotFoundError",
    "ProfileResult",
    "load_profiles",
    "load_thresholds",
    "load_windows",
    "probation_length",
    "read_results_dir",
    "scaled_sigmoid",
    "score_all_profiles",
    "score_corpus",
    "score_file",
    "sweep_thresholds",
    "write_results_dir",
]
