"""Evaluation of anomaly detectors on the Numenta Anomaly Benchmark (NAB): the corpus, the NAB v1.1 scorer, and
running a detector over the corpus in process or on Spark.

Spark-free (numpy/pandas; this package's namespace re-exports only these):

* ``corpus``: :class:`NabCorpus`, a NAB checkout (its paths, the one :meth:`NabCorpus.check`, loading windows,
  profiles and series), :func:`default_corpus_path`, :class:`NabCorpusError`.
* ``nab_files``: reading NAB's JSON files and reading/writing results directories in NAB's layout.
* ``nab_scoring`` and ``nab_threshold``: the NAB v1.1 scorer and its corpus-wide threshold optimisation.
* ``in_process``: a detector run over the corpus in this process and scored (:func:`evaluate_on_nab`, ...).
* ``entities``: one entity (a series_id with one or more channels) aligned, scored and counted against its labels
  (the evaluate job's per-entity part).

On Spark: ``spark_run``, the library part of ``jobs/evaluate_nab.py`` (import it as
``lakewatch.evaluation.spark_run``); ``general``, the library part of ``jobs/evaluate.py`` (any labelled
lakehouse, per entity, into gold.evaluations).
"""

from lakewatch.evaluation.corpus import (
    DEFAULT_CORPUS,
    PROFILES,
    NabCorpus,
    NabCorpusError,
    NabSeries,
    default_corpus_path,
    resolve_corpus_path,
)
from lakewatch.evaluation.in_process import (
    NabBenchmark,
    NabRun,
    benchmark_on_nab,
    evaluate_on_nab,
    run_on_nab,
    score_nab_run,
)
from lakewatch.evaluation.nab_files import (
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
    "DEFAULT_CORPUS",
    "PROFILES",
    "CostProfile",
    "FileScore",
    "NabBenchmark",
    "NabCorpus",
    "NabCorpusError",
    "NabDataError",
    "NabError",
    "NabFileNotFoundError",
    "NabRun",
    "NabSeries",
    "ProfileResult",
    "benchmark_on_nab",
    "default_corpus_path",
    "evaluate_on_nab",
    "load_profiles",
    "load_thresholds",
    "load_windows",
    "probation_length",
    "read_results_dir",
    "resolve_corpus_path",
    "run_on_nab",
    "scaled_sigmoid",
    "score_all_profiles",
    "score_corpus",
    "score_file",
    "score_nab_run",
    "sweep_thresholds",
    "write_results_dir",
]
