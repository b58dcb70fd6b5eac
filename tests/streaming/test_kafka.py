"""lakewatch.streaming.kafka against a real KRaft broker: JSON messages become readings or malformed rows (with
topic/partition/offset), exactly once across a broker restart; parsing checked on static frames too."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakewatch import schemas
from lakewatch.errors import ConfigError
from lakewatch.streaming import kafka as lk
from tests.kafka_harness import KafkaBroker

UTC0 = dt.datetime(2024, 1, 1)
GOOD = [
    ({"series_id": "s1", "timestamp": "2024-01-01T00:00:00Z", "value": 1.5}, ("s1", "value", UTC0, 1.5)),
    ({"series_id": "s1", "timestamp": 1704067500000, "value": 2}, ("s1", "value", UTC0 + dt.timedelta(minutes=5), 2.0)),
    ({"series_id": "s2", "channel": "temp", "timestamp": "2024-01-01 00:10:00", "value": "3.25"},
     ("s2", "temp", UTC0 + dt.timedelta(minutes=10), 3.25)),
]
BAD = [
    ("not json at all", "not_json"),
    ('{"series_id": "s1", "value": ', "not_json"),
    ("", "not_json"),
    ({"timestamp": "2024-01-01T00:00:00Z", "value": 1}, "missing_series_id"),
    ({"series_id": "s1", "value": 1}, "missing_timestamp"),
    ({"series_id": "s1", "timestamp": "yesterday", "value": 1}, "unparseable_timestamp"),
    ({"series_id": "s1", "timestamp": 1e300, "value": 1}, "unparseable_timestamp"),
    ({"series_id": "s1", "timestamp": "2024-01-01T00:00:00Z", "value": "abc"}, "non_numeric_value"),
    ({"series_id": "s1", "timestamp": "2024-01-01T00:00:00Z", "value": True}, "non_numeric_value"),
    ({"series_id": "s1", "timestamp": "2024-01-01T00:00:00Z"}, "missing_value"),
    ({"series_id": "s1", "timestamp": "2024-01-01T00:00:00Z", "value": "Infinity"}, "non_finite_value"),
]
_topics = itertools.count()

KAFKA_SCHEMA = T.StructType([
    T.StructField("value", T.BinaryType()), T.StructField("topic", T.StringType()),
    T.StructField("partition", T.IntegerType()), T.StructField("offset", T.LongType()),
    T.StructField("timestamp", T.TimestampType()),
])


def _text(message) -> str:
    return json.dumps(message) if isinstance(message, dict) else message


@pytest.fixture(scope="module")
def broker():
    with KafkaBroker() as running:
        yield running


def _expected_readings(spark: SparkSession, topic: str, acks: list[tuple[int, int]]) -> DataFrame:
    rows = [(*want, f"kafka://{topic}/{p}/{o}") for (_, want), (p, o) in zip(GOOD, acks, strict=True)]
    return spark.createDataFrame(rows, lk.READINGS_SCHEMA)


def _expected_malformed(spark: SparkSession, topic: str, acks: list[tuple[int, int]]) -> DataFrame:
    rows = [(topic, p, o, _text(message), reason) for (message, reason), (p, o) in zip(BAD, acks, strict=True)]
    return spark.createDataFrame(rows, "topic string, partition int, offset long, raw string, reason string")


def _run_available_now(df: DataFrame, path: Path, checkpoint: Path) -> None:
    query = (df.writeStream.format("delta").option("checkpointLocation", str(checkpoint))
             .trigger(availableNow=True).start(str(path)))
    query.awaitTermination(180)
    assert query.exception() is None and not query.isActive


def test_static_parse_splits_good_and_bad(spark: SparkSession) -> None:
    messages = [m for m, _ in GOOD] + [m for m, _ in BAD]
    rows = [(_text(m).encode(), "t", 0, i, UTC0) for i, m in enumerate(messages)]
    parsed = lk.parse_kafka_messages(spark.createDataFrame(rows, KAFKA_SCHEMA))
    assertDataFrameEqual(lk.readings_of(parsed), _expected_readings(spark, "t", [(0, i) for i in range(len(GOOD))]))
    bad_acks = [(0, len(GOOD) + i) for i in range(len(BAD))]
    assertDataFrameEqual(lk.malformed_of(parsed).select("topic", "partition", "offset", "raw", "reason"),
                         _expected_malformed(spark, "t", bad_acks))
    quarantine = lk.to_quarantine(lk.malformed_of(parsed), "batch-1")
    want = schemas.SILVER_QUARANTINE
    assert [(f.name, f.dataType) for f in quarantine.schema] == [(f.name, f.dataType) for f in want]
    first = quarantine.orderBy("record_order").first()
    assert (first.raw_record, first.reason, first.source, first.stage, first.ingest_id) == (
        "not json at all", "not_json", f"kafka://t/0/{len(GOOD)}", "kafka", "batch-1")


def test_the_harness_never_makes_a_cluster_id_that_reads_as_an_option() -> None:
    from tests.kafka_harness import _cluster_id

    ids = [_cluster_id() for _ in range(2000)]  # one in 64 random ids starts with "-"
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        lk.KafkaSettings(topic="t").reader_options()
    with pytest.raises(ConfigError, match="max_offsets_per_trigger"):
        lk.KafkaSettings("h:1", "t", max_offsets_per_trigger=0).reader_options()
    with pytest.raises(ConfigError, match="malformed_every"):
        lk.KafkaSettings("h:1", "t", malformed_every="soon").reader_options()
    opts = lk.KafkaSettings("h:1", "t", "latest", 100, False, (("kafka.security.protocol", "SSL"),)).reader_options()
    assert opts == {"kafka.bootstrap.servers": "h:1", "subscribe": "t", "startingOffsets": "latest",
                    "failOnDataLoss": "false", "maxOffsetsPerTrigger": "100", "kafka.security.protocol": "SSL"}


def test_stream_reads_readings_and_malformed_once_across_a_restart(spark: SparkSession, broker: KafkaBroker,
                                                                    tmp_path: Path) -> None:
    topic = f"readings{next(_topics)}"
    broker.create_topic(topic, partitions=2)
    settings = lk.KafkaSettings(broker.bootstrap, topic, max_offsets_per_trigger=10)
    good_acks = broker.produce(topic, [m for m, _ in GOOD[:2]])
    bad_acks = broker.produce(topic, [m for m, _ in BAD[:6]])

    def run() -> None:
        streams = lk.read_kafka_readings(spark, settings)
        _run_available_now(streams.readings, tmp_path / "readings", tmp_path / "cp_readings")
        _run_available_now(streams.malformed, tmp_path / "malformed", tmp_path / "cp_malformed")

    run()
    assert spark.read.format("delta").load(str(tmp_path / "readings")).count() == 2
    broker.restart()
    good_acks += broker.produce(topic, [m for m, _ in GOOD[2:]])
    bad_acks += broker.produce(topic, [m for m, _ in BAD[6:]])
    run()

    readings = spark.read.format("delta").load(str(tmp_path / "readings"))
    assertDataFrameEqual(readings, _expected_readings(spark, topic, good_acks))
    malformed = spark.read.format("delta").load(str(tmp_path / "malformed"))
    assert [(f.name, f.dataType) for f in malformed.schema] == [(f.name, f.dataType) for f in lk.MALFORMED_SCHEMA]
    assertDataFrameEqual(malformed.select("topic", "partition", "offset", "raw", "reason"),
                         _expected_malformed(spark, topic, bad_acks))


def test_score_stream_from_kafka_end_to_end(spark: SparkSession, broker: KafkaBroker, tmp_path: Path) -> None:
    from lakewatch.detectors import get_detector
    from lakewatch.progress import Progress
    from lakewatch.streaming.job import run_score_stream
    from lakewatch.streaming.settings import StreamSettings
    from tests.conftest import make_config
    from tests.streaming.harness import batch_scores, make_readings, table_scores

    config = make_config(tmp_path / "lake")
    topic = f"e2e{next(_topics)}"
    broker.create_topic(topic, partitions=2)
    rows = make_readings(series=2, points=240, seed=11)
    messages = [{"series_id": r.series_id, "timestamp": r.timestamp.isoformat() + "Z", "value": r.value}
                for r in rows.itertuples()]
    broker.produce(topic, messages)
    bad_acks = broker.produce(topic, [m for m, _ in BAD[:4]])
    settings = StreamSettings(source="kafka", trigger="availableNow", detector="robust_zscore", threshold=0.9,
                              state_partitions=2, checkpoint=str(tmp_path / "ckpt"),
                              explain={"background": 4}, kafka={"bootstrap_servers": broker.bootstrap, "topic": topic})
    run_score_stream(spark, config, settings, Progress("test-kafka-stream"))

    got = table_scores(spark, config.tables.gold_anomaly_scores)
    expected = batch_scores(rows, get_detector("robust_zscore"))
    assert len(got) == len(rows)
    import pandas as pd

    pd.testing.assert_frame_equal(got[["series_id", "channel", "timestamp", "score"]], expected, check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    scores = spark.table(config.tables.gold_anomaly_scores)
    flagged = scores.where("flag").select("attributions", "base_value").collect()
    assert flagged and all(r.attributions and r.base_value is not None for r in flagged)
    assert spark.table(config.tables.gold_anomalies).count() > 0
    quarantine = spark.table(config.tables.silver_quarantine).select("source", "reason", "raw_record")
    want = [(f"kafka://{topic}/{p}/{o}", reason, _text(message))
            for (message, reason), (p, o) in zip(BAD[:4], bad_acks, strict=True)]
    assertDataFrameEqual(quarantine, spark.createDataFrame(want, "source string, reason string, raw_record string"))


def test_a_running_stream_quarantines_malformed_messages_on_its_own_slower_trigger(
        spark: SparkSession, broker: KafkaBroker, tmp_path: Path) -> None:
    import threading
    import time

    from lakewatch.progress import Progress
    from lakewatch.streaming.job import run_score_stream
    from lakewatch.streaming.settings import StreamSettings
    from tests.conftest import make_config
    from tests.streaming.harness import make_readings

    config = make_config(tmp_path / "lake")
    topic = f"live{next(_topics)}"
    broker.create_topic(topic, partitions=2)
    rows = make_readings(series=2, points=60, seed=5)
    broker.produce(topic, [{"series_id": r.series_id, "timestamp": r.timestamp.isoformat() + "Z", "value": r.value}
                           for r in rows.itertuples()])
    bad_acks = broker.produce(topic, [m for m, _ in BAD[:3]])
    settings = StreamSettings(source="kafka", trigger="processingTime=1 second", detector="robust_zscore",
                              threshold=0.5034722222222222, state_partitions=2, checkpoint=str(tmp_path / "ckpt"),
                              explain={"enabled": False},
                              kafka={"bootstrap_servers": broker.bootstrap, "topic": topic, "malformed_every": "3 s"})
    stop = threading.Event()
    runner = threading.Thread(target=run_score_stream, args=(spark, config, settings, Progress("test-live"), stop))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (spark.catalog.tableExists(config.tables.silver_quarantine)
                    and spark.table(config.tables.silver_quarantine).count() >= len(bad_acks)
                    and spark.table(config.tables.gold_anomaly_scores).count() >= len(rows)):
                break
            time.sleep(1)
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive()
    assert spark.table(config.tables.gold_anomaly_scores).count() == len(rows)
    quarantine = spark.table(config.tables.silver_quarantine).select("source", "reason")
    want = [(f"kafka://{topic}/{p}/{o}", reason) for (_, reason), (p, o) in zip(BAD[:3], bad_acks, strict=True)]
    assertDataFrameEqual(quarantine, spark.createDataFrame(want, "source string, reason string"))
