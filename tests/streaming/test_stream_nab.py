"""A NAB series through the lakehouse (ingest, refine) and the score stream in two catch-up runs gives the same
flags as the evaluation's scoring (lakewatch.scoring.score_readings) at the same threshold, with SHAP
attributions on the flagged points when lakewatch.explain is present."""

from __future__ import annotations

import pandas as pd

from lakewatch.evaluation import NabCorpus
from lakewatch.pipeline import run_ingest, run_refine
from lakewatch.progress import Progress
from lakewatch.scoring import score_readings
from lakewatch.sources.nab import NabSource
from lakewatch.streaming.job import run_score_stream
from lakewatch.streaming.settings import StreamSettings
from tests.conftest import make_config, nab_dir, nab_subset

KEY = "realKnownCause/ec2_request_latency_system_failure.csv"




def test_streamed_flags_equal_the_evaluation_scoring(spark, tmp_path):
    corpus = nab_dir()
    config = make_config(tmp_path / "lake")
    threshold = config.detectors.threshold("lakewatch_nab")  # streaming.threshold unset: the detector's own
    assert threshold == 0.5034722222222222
    progress = Progress("test-nab-stream")
    frame = pd.read_csv(NabCorpus(corpus).data_file(KEY))
    half = len(frame) // 2
    settings = StreamSettings(trigger="availableNow", checkpoint=str(tmp_path / "ckpt"), state_partitions=2,
                              explain={"enabled": True})
    reports = []
    for name, part in (("first", frame.iloc[:half]), ("second", frame.iloc[half:])):
        source = NabSource(config.source("nab"), str(nab_subset(tmp_path / name, [KEY], {KEY: part}).root))
        ingested = run_ingest(spark, config, source, progress)
        run_refine(spark, config, ingested.ingest_id, progress)
        reports.append(run_score_stream(spark, config, settings, progress))
    silver = spark.table(config.tables.silver_readings)
    assert all(r.scored > 0 for r in reports) and sum(r.scored for r in reports) == silver.count()
    expected = score_readings(silver, "lakewatch_nab", {}).toPandas()
    expected["flag"] = expected["anomaly_score"] >= threshold
    streamed = spark.table(config.tables.gold_anomaly_scores).toPandas()
    merged = expected.merge(streamed, on=["series_id", "channel", "timestamp"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == sum(r.scored for r in reports)
    assert (merged["flag_x"] == merged["flag_y"]).all()
    assert (merged["anomaly_score"] - merged["score"]).abs().max() < 1e-12
    assert merged["flag_y"].sum() > 0

    events = spark.table(config.tables.gold_anomalies).toPandas()
    assert int(events["points"].sum()) == int(merged["flag_y"].sum())
    assert (events["threshold"] == threshold).all()
    flagged = streamed[streamed["flag"]]
    explained = flagged["attributions"].map(lambda a: a is not None and len(a) > 0)
    assert explained.all(), "every flagged point carries SHAP attributions"
    assert events["top_inputs"].map(lambda a: a is not None and len(a) > 0).all()
