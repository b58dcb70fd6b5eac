"""The NAB evaluation on Spark (the evaluate_nab job's library part): corpus through bronze/silver, per-series
scoring in parallel, NAB v1.1 scoring with corpus-wide thresholds, results in gold tables and in NAB's own
results layout; also scoring an existing results directory and the scoreboard."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.concurrent import in_background, run_together
from lakewatch.config import LakewatchConfig
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.evaluation.nab_files import point_labels, read_results_dir, write_results_dir
from lakewatch.evaluation.nab_scoring import NabDataError, ProfileResult, score_all_profiles, score_corpus
from lakewatch.pipeline import run_ingest, run_refine
from lakewatch.progress import Progress
from lakewatch.scoring import score_series, warm_workers
from lakewatch.sources.files import VALUE_CHANNEL
from lakewatch.sources.nab import NabSource

ALL_CATEGORIES = "ALL"

_RESULT_ARRAYS = ("series_id string, micros array<long>, value array<double>, anomaly_score array<double>, "
                  "label array<int>")


@dataclass(frozen=True)
class NabEvaluation:
    """One detector's NAB outcome: a ProfileResult per profile, per-category scores and timings."""

    detector: str
    results: Mapping[str, ProfileResult]
    categories: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    points: int = 0
    results_dir: str | None = None

    def normalized(self) -> dict[str, float]:
        """Normalised score (0 null detector, 100 perfect) per profile."""
        return {name: result.normalized for name, result in self.results.items()}


def _category(key: str) -> str:
    return key.split("/", 1)[0]


def score_by_category(frames: Mapping[str, pd.DataFrame], windows: Mapping, profiles: Mapping,
                      results: Mapping[str, ProfileResult]) -> dict[str, dict[str, float]]:
    """Normalised score per profile and category, each at the profile's corpus-wide threshold."""
    out: dict[str, dict[str, float]] = {}
    for category in sorted({_category(k) for k in frames}):
        subset = {k: v for k, v in frames.items() if _category(k) == category}
        out[category] = {name: score_corpus(subset, windows, profiles[name], threshold=result.threshold).normalized
                         for name, result in results.items()}
    return out


def _frames(scored: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per NAB file, its scored points (timestamp, value, anomaly_score) from score_series' one row per series."""
    return {f"{row.series_id}.csv": pd.DataFrame({"timestamp": pd.to_datetime(row.micros, unit="us"),
                                                  "value": row.values, "anomaly_score": row.scores})
            for row in scored.sort_values("series_id").itertuples(index=False)}


def corpus_rows(frames: Mapping[str, pd.DataFrame], corpus: NabCorpus) -> dict[str, pd.DataFrame]:
    """The scored frames laid over the corpus' own rows: one row per corpus row, in file order, with the row's
    timestamp and value and the score of its timestamp.

    Silver keeps one reading per (series, timestamp), but NAB's files repeat some timestamps (49 rows over 8
    files of the corpus), and NAB's scorer wants one result row per data row. A repeated timestamp's rows all
    get the score the detector gave that timestamp. Raises NabDataError naming the file and the first corpus
    timestamp that was not scored (a row quarantined on the way, for example).
    """
    out = {}
    for series in corpus.series():
        if series.key not in frames:
            continue
        frame = frames[series.key]
        scored = pd.Index(frame["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64"))
        positions = scored.get_indexer(series.timestamps)
        if (positions < 0).any():
            first = pd.Timestamp(int(series.timestamps[positions < 0][0]))
            raise NabDataError(f"{series.key}: {int((positions < 0).sum())} corpus row(s) have no score, the first "
                               f"at {first}; expected every row of the file in silver")
        out[series.key] = pd.DataFrame({"timestamp": pd.to_datetime(series.timestamps),
                                        "value": series.values,
                                        "anomaly_score": frame["anomaly_score"].to_numpy()[positions]})
    return out


def evaluate_nab(spark: SparkSession, config: LakewatchConfig, corpus: NabCorpus | str | Path, detector: str,
                 params: Mapping, run_id: str, progress: Progress, out_dir: str | Path | None = None) -> NabEvaluation:
    """Ingest the corpus, score every series with `detector` on Spark, score it the NAB way, write results
    (gold.nab_results, gold.nab_scores, and NAB's layout under `out_dir`, by default the configured
    ``results_dir`` under the table root)."""
    corpus = NabCorpus.at(corpus)
    windows, profiles = corpus.windows(), corpus.profiles()
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    ingested = run_ingest(spark, config, NabSource(config.source("nab"), str(corpus.root)), progress)
    # while refine keeps the driver busy
    warming = in_background(lambda: warm_workers(spark, detector, params, config.detectors))
    if ingested.bronze_rows:
        run_refine(spark, config, ingested.ingest_id, progress)
    else:
        progress.say(f"refine: nothing new in {config.tables.bronze_readings}, "
                     f"{config.tables.silver_readings} is up to date")
    warming.result()
    seconds["ingest_refine"] = time.perf_counter() - began
    with progress.stage(f"score {len(windows)} NAB series with {detector}") as counts:
        began = time.perf_counter()
        # One task per core: a task costs ~0.1-0.2 s of its own here, and NAB's 58 series hash into halves of
        # 52% and 48% of the points on two cores (two tasks per core: 1.06 s against 0.96 s, warm).
        tasks = spark.sparkContext.defaultParallelism
        series = [(key[:-len(".csv")], VALUE_CHANNEL) for key in sorted(windows)]
        scored = score_series(spark.table(config.tables.silver_readings), detector, params, tasks, series,
                              config.detectors)
        # The corpus is NAB's fixed 365k rows: its threshold optimisation runs on the driver.
        frames = corpus_rows(_frames(scored.toPandas()), corpus)
        points = sum(len(frame) for frame in frames.values())
        counts.update(points=points)
        seconds["score"] = time.perf_counter() - began
    missing = sorted(set(windows) - set(frames))
    if missing:
        raise NabDataError(f"{len(missing)} NAB series missing from {config.tables.silver_readings} after ingesting "
                           f"{corpus.root}, e.g. {missing[:5]}; expected every key of {corpus.windows_file.name}")
    with progress.stage("optimise thresholds (3 profiles)"):
        began = time.perf_counter()
        results = score_all_profiles(frames, windows, profiles)
        categories = score_by_category(frames, windows, profiles, results)
        seconds["optimise"] = time.perf_counter() - began
    with progress.stage("write gold.nab_results, gold.nab_scores and NAB's results layout"):
        began = time.perf_counter()
        target = Path(out_dir) if out_dir else Path(config.lakehouse.under(config.results_dir))
        run_together(lambda: _write_results(spark, config, detector, frames, windows, results["standard"].threshold),
                     lambda: _write_scores(spark, config, detector, results, categories, run_id),
                     lambda: write_results_dir(target, detector, frames, windows))
        seconds["write"] = time.perf_counter() - began
    return NabEvaluation(detector, results, categories, seconds, points, str(target))


def results_rows(spark: SparkSession, detector: str, frames: Mapping[str, pd.DataFrame], windows: Mapping,
                 threshold: float) -> DataFrame:
    """gold.nab_results rows from the scored frames: every point with its window label (the labels NAB's
    scorer and the results layout use) and its flag at `threshold`.

    The points travel to Spark as one row of arrays per file and are unpacked there: sending 365k rows
    one by one through Arrow costs several times more.
    """
    keys = sorted(frames)
    files = pd.DataFrame({
        "series_id": [key.removesuffix(".csv") for key in keys],
        "micros": [frames[key]["timestamp"].to_numpy(dtype="datetime64[us]").astype("int64") for key in keys],
        "value": [frames[key]["value"].to_numpy(dtype="float64") for key in keys],
        "anomaly_score": [frames[key]["anomaly_score"].to_numpy(dtype="float64") for key in keys],
        "label": [point_labels(frames[key]["timestamp"], windows[key], key).astype("int32") for key in keys]})
    points = spark.createDataFrame(files, _RESULT_ARRAYS).select(
        "series_id", F.inline(F.arrays_zip("micros", "value", "anomaly_score", "label")))
    return points.select(F.lit(detector).alias("detector"), "series_id",
                         F.timestamp_micros("micros").alias("timestamp"), "value", "anomaly_score", "label",
                         (F.col("anomaly_score") >= F.lit(float(threshold))).alias("flag"))


def _write_results(spark: SparkSession, config: LakewatchConfig, detector: str, frames: Mapping[str, pd.DataFrame],
                   windows: Mapping, threshold: float) -> None:
    # The scored points are on the driver already (NAB's scoring is sequential): labelled there, cheaper
    # than joining the scored rows with gold.labels on the cluster.
    name = config.tables.gold_nab_results
    tables.ensure_table(spark, config, name, schemas.GOLD_NAB_RESULTS)
    tables.replace_where(results_rows(spark, detector, frames, windows, threshold), name, f"detector = '{detector}'")


def _write_scores(spark: SparkSession, config: LakewatchConfig, detector: str, results: Mapping[str, ProfileResult],
                  categories: Mapping[str, Mapping[str, float]], run_id: str) -> None:
    now = datetime.now(UTC)
    rows = []
    for name, result in results.items():
        per_category: dict[str, list] = {}
        for f in result.files:
            acc = per_category.setdefault(_category(f.file), [0.0, 0, 0, 0, 0])
            for i, v in enumerate((f.score, f.tp, f.fp, f.fn, f.tn)):
                acc[i] += v
        totals = [sum(acc[i] for acc in per_category.values()) for i in range(5)]
        for category, acc in [(ALL_CATEGORIES, totals), *sorted(per_category.items())]:
            score = result.normalized if category == ALL_CATEGORIES else categories[category][name]
            rows.append((detector, name, category, float(result.threshold), _finite(score), float(acc[0]),
                         int(acc[1]), int(acc[2]), int(acc[3]), int(acc[4]), run_id, now))
    name = config.tables.gold_nab_scores
    tables.ensure_table(spark, config, name, schemas.GOLD_NAB_SCORES)
    tables.replace_where(spark.createDataFrame(rows, schemas.GOLD_NAB_SCORES), name, f"detector = '{detector}'")


def _finite(value: float) -> float | None:
    return None if value != value else float(value)


def score_results_dir(results_dir: str | Path, detector: str,
                      corpus: NabCorpus | str | Path) -> dict[str, ProfileResult]:
    """Score an existing results directory in NAB's layout (any detector's outputs), optimising thresholds."""
    corpus = NabCorpus.at(corpus)
    windows = corpus.windows()
    frames = read_results_dir(results_dir, detector)
    return score_all_profiles(frames, windows, corpus.profiles())


def scoreboard(corpus: NabCorpus | str | Path,
               ours: Mapping[str, Mapping[str, float]]) -> list[tuple[str, float, float, float]]:
    """Published detectors (results/final_results.json, if present) and ours, best standard score first."""
    board: dict[str, Mapping[str, float]] = {}
    published = NabCorpus.at(corpus).final_results_file
    if published.exists():
        board.update(json.loads(published.read_text()))
    board.update({f"lakewatch:{name}": scores for name, scores in ours.items()})
    rows = [(name, s.get("standard", float("nan")), s.get("reward_low_FP_rate", float("nan")),
             s.get("reward_low_FN_rate", float("nan"))) for name, s in board.items()]
    return sorted(rows, key=lambda r: -r[1] if r[1] == r[1] else float("inf"))


def format_scoreboard(rows: list[tuple[str, float, float, float]]) -> str:
    """The scoreboard as an aligned text table (ours marked with '<')."""
    lines = [f"{'detector':<36} {'standard':>9} {'low FP':>9} {'low FN':>9}"]
    for name, standard, low_fp, low_fn in rows:
        mark = "  <" if name.startswith("lakewatch:") else ""
        lines.append(f"{name:<36} {standard:9.2f} {low_fp:9.2f} {low_fn:9.2f}{mark}")
    return "\n".join(lines)
