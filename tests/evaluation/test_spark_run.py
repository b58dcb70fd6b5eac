"""The NAB evaluation on Spark agrees with an in-process run of the same detector and the same scorer,
and writes its tables and NAB's results layout."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakewatch.detectors import get_detector
from lakewatch.evaluation import NabCorpus, read_results_dir, score_all_profiles
from lakewatch.evaluation.spark_run import evaluate_nab, format_scoreboard, scoreboard
from lakewatch.progress import Progress
from tests.conftest import make_config, nab_dir, nab_subset

CATEGORY = "artificialWithAnomaly"
DETECTOR = "windowed_gaussian"


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAB checkout holding one category of the shared corpus (copied to a temporary folder only)."""
    keys = [key for key in NabCorpus(nab_dir()).windows() if key.startswith(CATEGORY + "/")]
    return nab_subset(tmp_path_factory.mktemp("nab-subset"), keys).root


def _in_process(corpus: Path) -> dict[str, float]:
    frames = {}
    nab = NabCorpus(corpus)
    for path in sorted((nab.data_dir / CATEGORY).glob("*.csv")):
        frame = pd.read_csv(path, parse_dates=["timestamp"])
        nanos = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64")
        frame["anomaly_score"] = get_detector(DETECTOR).score_series(frame["value"].to_numpy(float), nanos)
        frames[f"{CATEGORY}/{path.name}"] = frame
    results = score_all_profiles(frames, nab.windows(), nab.profiles())
    return {name: r.normalized for name, r in results.items()}


def test_spark_evaluation_matches_in_process_scoring(spark, small_corpus: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    out = tmp_path / "results"
    outcome = evaluate_nab(spark, config, small_corpus, DETECTOR, {}, "run-nab", Progress("t", stream=io.StringIO()),
                           out)
    assert outcome.points == 6 * 4032
    expected = _in_process(small_corpus)
    for profile, score in outcome.normalized().items():
        assert score == pytest.approx(expected[profile], abs=1e-9)

    written = read_results_dir(out, DETECTOR)
    assert sorted(written) == sorted(f"{CATEGORY}/{p.name}" for p in (small_corpus / "data" / CATEGORY).glob("*.csv"))
    assert written[f"{CATEGORY}/art_daily_jumpsup.csv"]["label"].sum() > 0
    nab = NabCorpus(small_corpus)
    assert {k: len(f) for k, f in written.items()} == {k: len(pd.read_csv(nab.data_file(k))) for k in written}

    scores = spark.table(config.tables.gold_nab_scores)
    overall = {r["profile"]: r["score"] for r in scores.where(F.col("category") == "ALL").collect()}
    assert overall == pytest.approx(outcome.normalized())
    assert scores.where(F.col("category") == CATEGORY).count() == 3
    results = spark.table(config.tables.gold_nab_results)
    assert results.count() == 6 * 4032
    threshold = outcome.results["standard"].threshold
    assert results.where(F.col("flag") != (F.col("anomaly_score") >= threshold)).count() == 0
    assert results.where(F.col("label") == 1).count() == sum(int(f["label"].sum()) for f in written.values())


def test_repeated_corpus_timestamps_give_one_result_row_per_corpus_row(spark, tmp_path: Path) -> None:
    # NAB's own files repeat timestamps (12 rows at 2014-03-09 03:00:00 in machine_temperature_system_failure):
    # silver keeps one reading per timestamp, the results in NAB's layout keep every corpus row, in file order.
    key = f"{CATEGORY}/art_daily_jumpsup.csv"
    rows = pd.read_csv(NabCorpus(nab_dir()).data_file(key))
    repeated = pd.concat([rows.iloc[:100], rows.iloc[[99, 99]], rows.iloc[100:]], ignore_index=True)
    corpus = nab_subset(tmp_path / "nab", [key], {key: repeated})
    out = tmp_path / "results"
    outcome = evaluate_nab(spark, make_config(tmp_path / "lake"), corpus.root, DETECTOR, {}, "run-rep",
                           Progress("t", stream=io.StringIO()), out)
    assert outcome.points == len(repeated)
    written = read_results_dir(out, DETECTOR)[key]
    assert len(written) == len(repeated)
    assert list(written["value"]) == list(repeated["value"])
    assert written["anomaly_score"].iloc[99] == written["anomaly_score"].iloc[100] == written["anomaly_score"].iloc[101]


def test_scoreboard_places_ours_among_the_published(small_corpus: Path) -> None:
    rows = scoreboard(nab_dir(), {"x": {"standard": 72.0, "reward_low_FP_rate": 60.0, "reward_low_FN_rate": 75.0}})
    names = [r[0] for r in rows]
    assert names.index("ARTime") < names.index("lakewatch:x") < names.index("numenta")
    assert "lakewatch:x" in format_scoreboard(rows)
