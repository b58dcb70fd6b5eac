"""Readings from a Kafka topic: a Structured Streaming source that parses JSON messages and splits them
into typed readings and malformed messages (for silver.quarantine), without ever raising on bad input.

A message value is a JSON object ``{"series_id": "...", "channel": "value", "timestamp": ..., "value": ...}``:
``channel`` is optional (default ``"value"``), ``timestamp`` is ISO-8601 text (no zone = UTC) or epoch
milliseconds (a JSON number or numeric text), ``value`` a JSON number (numeric text is accepted too). Any
other message (not JSON, missing fields, a non-numeric or non-finite value, a bad timestamp) becomes a
malformed row with its topic/partition/offset, the raw text and a reason. Spark runs in ANSI mode, so
every conversion here is a ``try_*`` one: a bad message is a row, never a failed query.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch import schemas, tables
from lakewatch.errors import ConfigError
from lakewatch.refine import is_blank
from lakewatch.streaming.settings import parse_duration

DEFAULT_CHANNEL = "value"
QUARANTINE_STAGE = "kafka"
# Epoch milliseconds beyond this (about year 5138) are rejected rather than overflowing a timestamp.
_MAX_EPOCH_MS = 1e14
_CORRUPT = "_corrupt_record"
_FIELDS = ("series_id", "channel", "timestamp", "value")
_JSON_SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in (*_FIELDS, _CORRUPT)])
_NUMBER = r"^\s*-?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\s*$"

READINGS_SCHEMA = T.StructType([
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("timestamp", T.TimestampType()),
    T.StructField("value", T.DoubleType()),
    T.StructField("source", T.StringType()),
])

MALFORMED_SCHEMA = T.StructType([
    T.StructField("topic", T.StringType()),
    T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()),
    T.StructField("raw", T.StringType()),
    T.StructField("reason", T.StringType()),
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_raw", T.StringType()),
    T.StructField("value_raw", T.StringType()),
    T.StructField("source", T.StringType()),
    T.StructField("kafka_timestamp", T.TimestampType()),
])


@dataclass(frozen=True)
class KafkaSettings:
    """Where and how to read readings from Kafka.

    ``starting_offsets``: "earliest", "latest" or Spark's JSON offsets; only used when a query starts without
    a checkpoint. ``max_offsets_per_trigger``: cap on messages per micro-batch (None = no cap).
    ``malformed_every``: under a processingTime trigger, how often the malformed-message query (its own read
    and parse of the topic) runs, at least as seldom as the scoring query; malformed messages reach
    silver.quarantine up to this late, and the scoring query keeps the cores in between.
    ``fail_on_data_loss``: fail the query when offsets it expected are gone (deleted topic, retention);
    False skips the gap (with a warning in Spark's log). ``options``: extra ``kafka.*`` consumer options
    (e.g. security settings) as (key, value) pairs.
    """

    bootstrap_servers: str = ""
    topic: str = ""
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    options: tuple[tuple[str, str], ...] = ()
    malformed_every: str = "30 seconds"

    def validate(self) -> None:
        """Raise ConfigError naming the field when a setting cannot work."""
        if not self.bootstrap_servers.strip():
            raise ConfigError("Kafka: bootstrap_servers is empty; expected host:port[,host:port...]")
        if not self.topic.strip():
            raise ConfigError("Kafka: topic is empty; expected a topic name")
        if self.max_offsets_per_trigger is not None and self.max_offsets_per_trigger < 1:
            raise ConfigError(
                f"Kafka: max_offsets_per_trigger={self.max_offsets_per_trigger}; expected a positive number or None"
            )
        parse_duration(self.malformed_every, "Kafka malformed_every")

    def reader_options(self) -> dict[str, str]:
        """The options for ``spark.readStream.format("kafka")``."""
        self.validate()
        opts = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "subscribe": self.topic,
            "startingOffsets": self.starting_offsets,
            "failOnDataLoss": str(self.fail_on_data_loss).lower(),
        }
        if self.max_offsets_per_trigger is not None:
            opts["maxOffsetsPerTrigger"] = str(self.max_offsets_per_trigger)
        opts.update(dict(self.options))
        return opts


@dataclass(frozen=True)
class KafkaStreams:
    """The Kafka stream split two ways, plus the parsed stream both come from.

    ``readings``: series_id, channel, timestamp, value, source ("kafka://<topic>/<partition>/<offset>").
    ``malformed``: topic, partition, offset, raw, reason, series_id, channel, ts_raw, value_raw, source,
    kafka_timestamp (see :func:`to_quarantine` for silver.quarantine rows).
    ``parsed``: every message with all of the above and ``reason`` (null for a good reading); split it with
    :func:`readings_of` / :func:`malformed_of` inside one foreachBatch to read the topic only once.
    """

    readings: DataFrame
    malformed: DataFrame
    parsed: DataFrame


def read_kafka_readings(spark: SparkSession, settings: KafkaSettings) -> KafkaStreams:
    """Subscribe to ``settings.topic`` as a streaming DataFrame and parse it into readings and malformed."""
    stream = spark.readStream.format("kafka").options(**settings.reader_options()).load()
    parsed = parse_kafka_messages(stream)
    return KafkaStreams(readings=readings_of(parsed), malformed=malformed_of(parsed), parsed=parsed)


def parse_kafka_messages(messages: DataFrame) -> DataFrame:
    """Parse Kafka source rows (value binary, topic, partition, offset, timestamp) into typed columns.

    Output: topic, partition, offset, kafka_timestamp, source, raw, series_id, channel, ts_raw, value_raw,
    timestamp, value, reason (null when the message is a good reading). Works on streaming and static frames.
    """
    raw = F.col("value").cast("string")
    parsed = messages.select(
        F.col("topic"), F.col("partition"), F.col("offset"), F.col("timestamp").alias("kafka_timestamp"),
        F.concat(F.lit("kafka://"), F.col("topic"), F.lit("/"), F.col("partition").cast("string"), F.lit("/"),
                 F.col("offset").cast("string")).alias("source"),
        raw.alias("raw"),
        F.from_json(raw, _JSON_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}).alias("_j"),
    )
    typed = parsed.select(
        "*",
        F.col("_j.series_id").alias("series_id"),
        F.coalesce(F.col("_j.channel"), F.lit(DEFAULT_CHANNEL)).alias("channel"),
        F.col("_j.timestamp").alias("ts_raw"),
        F.col("_j.value").alias("value_raw"),
    )
    typed = typed.withColumn("timestamp", parse_message_timestamp(F.col("ts_raw")))
    typed = typed.withColumn("value", F.trim(F.col("value_raw")).try_cast("double"))
    return typed.withColumn("reason", _reason()).drop("_j")


def parse_message_timestamp(text: Column) -> Column:
    """A timestamp from a message's timestamp text: epoch milliseconds when numeric, else ISO-8601 (no zone =
    session zone, UTC in lakewatch); null when neither parses or the number is out of range."""
    trimmed = F.trim(text)
    millis = trimmed.try_cast("double")
    in_range = trimmed.rlike(_NUMBER) & (F.abs(millis) < F.lit(_MAX_EPOCH_MS))
    as_millis = F.timestamp_micros((millis * 1000).cast("long"))
    return F.when(in_range, as_millis).when(~trimmed.rlike(_NUMBER), F.try_to_timestamp(trimmed))


def _reason() -> Column:
    ts, value = F.col("timestamp"), F.col("value")
    return (
        F.when(is_blank(F.col("raw")) | F.col(f"_j.{_CORRUPT}").isNotNull(), "not_json")
        .when(is_blank(F.col("series_id")), "missing_series_id")
        .when(F.trim(F.col("channel")) == "", "missing_channel")
        .when(is_blank(F.col("ts_raw")), "missing_timestamp")
        .when(ts.isNull(), "unparseable_timestamp")
        .when(is_blank(F.col("value_raw")), "missing_value")
        .when(value.isNull(), "non_numeric_value")
        .when(F.isnan(value) | (F.abs(value) == float("inf")), "non_finite_value")
    )


def readings_of(parsed: DataFrame) -> DataFrame:
    """The good readings of :func:`parse_kafka_messages` output: series_id, channel, timestamp, value, source."""
    return parsed.where(F.col("reason").isNull()).select(*[F.col(f.name) for f in READINGS_SCHEMA.fields])


def malformed_of(parsed: DataFrame) -> DataFrame:
    """The malformed messages of :func:`parse_kafka_messages` output, columns as :data:`MALFORMED_SCHEMA`."""
    return parsed.where(F.col("reason").isNotNull()).select(*[F.col(f.name) for f in MALFORMED_SCHEMA.fields])


def to_quarantine(malformed: DataFrame, ingest_id: Column | str | None = None) -> DataFrame:
    """Malformed messages as silver.quarantine rows (schema ``schemas.SILVER_QUARANTINE``).

    raw_record = the message text, source = kafka://topic/partition/offset, source_version = the topic,
    record_order = the offset, stage = "kafka"; ``ingest_id`` (e.g. the query id and batch) is optional.
    """
    ingest = ingest_id if isinstance(ingest_id, Column) else F.lit(ingest_id).cast("string")
    rows = malformed.select(
        "series_id", "channel", "ts_raw", "value_raw", F.col("raw").alias("raw_record"), "reason",
        F.lit(QUARANTINE_STAGE).alias("stage"), "source", F.col("topic").alias("source_version"),
        F.col("offset").alias("record_order"), ingest.alias("ingest_id"),
        F.current_timestamp().alias("quarantined_at"),
    )
    return tables.conform(rows, schemas.SILVER_QUARANTINE)
