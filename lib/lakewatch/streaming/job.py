"""run_score_stream: readings (Delta silver.readings or Kafka) -> per-series detector state in Spark's state
store -> gold.anomaly_scores, gold.anomalies and silver.quarantine, exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakewatch import tables, views
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import Detector, get_detector
from lakewatch.errors import ConfigError, LakewatchError
from lakewatch.evaluation.entities import MULTICHANNEL_DEFAULT
from lakewatch.progress import Progress
from lakewatch.sources.filesystem import hadoop_path
from lakewatch.streaming.entities import EntityScorer
from lakewatch.streaming.entity_sources import SourceRule, rule_column, source_rules, with_readings
from lakewatch.streaming.explaining import make_explainer
from lakewatch.streaming.packing import KEY_COLUMNS, pack_batches, packed_schema
from lakewatch.streaming.scoring import OUTPUT_SCHEMA, SeriesScorer, bucket_function, group_function
from lakewatch.streaming.settings import (
    StreamSettings,
    at_most_every,
    checkpoint_dir,
    parse_duration,
    parse_trigger,
)
from lakewatch.streaming.sink import (
    BatchStats,
    SinkSpec,
    append_idempotent,
    query_app_id,
    table_locations,
    write_batch,
)
from lakewatch.streaming.state import BUCKET_STATE_SCHEMA, STATE_SCHEMA

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
PROVIDER_CONF = "spark.sql.streaming.stateStore.providerClass"
BUCKET_COLUMN = "state_bucket"
LAYOUT_FILE = "lakewatch-state-layout.json"  # beside Spark's own files in the checkpoint folder


class StreamFailed(LakewatchError):
    """The streaming query stopped with an error."""


@dataclass(frozen=True)
class ResolvedDetector:
    """The detector a query scores with, its name and the version stamped on every row."""

    detector: Detector
    name: str
    model_version: str


@dataclass
class StreamReport:
    """What a run of the score stream did."""

    query_id: str = ""
    checkpoint: str = ""
    detector: str = ""
    batches: int = 0
    scored: int = 0
    flagged: int = 0
    late: int = 0
    events: int = 0
    seconds: float = 0.0
    stopped: str = ""
    batch_stats: list[BatchStats] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)  # readings sent to silver.quarantine, by reason

    def add(self, stats: BatchStats) -> None:
        """Count one written micro-batch."""
        self.batches += 1
        self.scored += stats.scored
        self.flagged += stats.flagged
        self.late += stats.late
        self.events += stats.events
        for reason, n in stats.quarantined.items():
            self.quarantined[reason] = self.quarantined.get(reason, 0) + n
        self.batch_stats.append(stats)


def quarantine_text(by_reason: dict[str, int]) -> str:
    """'N quarantined (reason n, ...)' for readings sent to silver.quarantine by reason, '0 quarantined' for none."""
    total = sum(by_reason.values())
    detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(by_reason.items()) if n)
    return f"{total:,} quarantined" + (f" ({detail})" if detail else "")


def batch_line(stats: BatchStats) -> str:
    """The progress line of one written micro-batch: rows, time split, flagged, quarantined by reason, events."""
    writes = ", ".join(f"{name} {s:.1f}s" for name, s in stats.write_seconds.items())
    return (f"batch {stats.batch_id}: {stats.scored:,} rows scored in {stats.seconds:.1f}s "
            f"(scoring {stats.scoring_seconds:.1f}s, writes {stats.seconds - stats.scoring_seconds:.1f}s"
            f"{': ' + writes if writes else ''}) "
            f"({stats.rows_per_second:,.0f} rows/s), {stats.flagged:,} flagged, {stats.late:,} late, "
            f"{quarantine_text(stats.quarantined)}, {stats.events:,} event updates")


def resolve_detector(config: LakewatchConfig, settings: StreamSettings) -> ResolvedDetector:
    """The registry detector `settings.detector` (default: conf/detectors.yaml's default) or the MLflow model
    `settings.model`; its model_version is the registry fingerprint or the registered model's version."""
    if settings.model:
        from lakewatch import tracking  # imported only when a model URI is asked for

        tracking.configure(config)
        detector = tracking.load_model_detector(settings.model)
        return ResolvedDetector(detector, detector.name, _model_version(settings.model))
    name = config.detectors.resolve(settings.detector)
    try:
        detector = get_detector(name, catalog=config.detectors)
    except LakewatchError as exc:
        raise ConfigError(str(exc)) from exc
    except ValueError as exc:
        raise ConfigError(f"streaming detector {name!r}: {exc}") from exc
    return ResolvedDetector(detector, name, f"{name}@{detector.fingerprint}")


def _model_version(uri: str) -> str:
    """'name/version' of a models:/name@alias or models:/name/version URI (the URI itself if unresolvable)."""
    if not uri.startswith("models:/"):
        return uri
    ref = uri[len("models:/"):]
    try:
        from mlflow import MlflowClient

        if "@" in ref:
            name, alias = ref.split("@", 1)
            return f"{name}/{MlflowClient().get_model_version_by_alias(name, alias).version}"
    except Exception:  # the version is a label; the URI still identifies the model
        return uri
    return ref


def delta_readings(spark: SparkSession, config: LakewatchConfig, settings: StreamSettings) -> DataFrame:
    """silver.readings as a Delta stream (rate-limited by max_files_per_trigger / max_bytes_per_trigger)."""
    reader = spark.readStream.format("delta")
    if settings.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", settings.max_files_per_trigger)
    if settings.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", settings.max_bytes_per_trigger)
    return reader.table(config.tables.silver_readings)


def kafka_streams(spark: SparkSession, settings: StreamSettings) -> tuple[DataFrame, DataFrame, dict[str, Any]]:
    """Readings and malformed messages from Kafka via lakewatch.streaming.kafka (imported only for Kafka), and
    the trigger of the malformed-message query (streaming.kafka.malformed_every)."""
    from lakewatch.streaming.kafka import KafkaSettings, read_kafka_readings

    options = dict(settings.kafka)
    if not options.get("bootstrap_servers") or not options.get("topic"):
        raise ConfigError("streaming source kafka needs streaming.kafka.bootstrap_servers and .topic "
                          "(--bootstrap HOST:PORT --topic NAME)")
    kafka = KafkaSettings(**options)
    streams = read_kafka_readings(spark, kafka)
    every = parse_duration(kafka.malformed_every, "Kafka malformed_every")
    return streams.readings, streams.malformed, at_most_every(settings.trigger, every)


def score_readings_stream(readings: DataFrame, scorer: SeriesScorer, settings: StreamSettings,
                          entities: EntityScorer | None = None, rules: Sequence[SourceRule] = ()) -> DataFrame:
    """The stateful scoring transform: readings (series_id, channel, timestamp, value) to OUTPUT_SCHEMA rows.

    Each source task packs its readings per series first (lakewatch.streaming.packing), so Spark shuffles and
    hands to Python one row of arrays per series and task rather than one row per reading. With
    settings.state_buckets the state is kept per bucket of series (lakewatch.streaming.state). With `entities`,
    the readings of a multichannel entity are packed and kept under the key (series_id, '*')
    (lakewatch.streaming.entities); with the machine sources' `rules` (in the order `entities` got their
    channels), each reading's rule (entity_rule, from its `source` column: lakewatch.streaming.entity_sources)
    travels with it.
    """
    rules = tuple(rules) if entities is not None else ()
    columns = readings.select("series_id", "channel", F.unix_micros("timestamp").alias("ts_us"), "value",
                              *([rule_column(rules)] if rules else []))
    globs = tuple(entities.settings.series) if entities is not None else ()
    pack = partial(pack_batches, globs=globs) if globs else pack_batches
    packed = columns.mapInArrow(pack, packed_schema(columns.schema, entities=entities is not None))
    if settings.state_buckets:
        bucket = F.pmod(F.xxhash64(*KEY_COLUMNS), F.lit(settings.state_buckets)).cast("int")
        return packed.withColumn(BUCKET_COLUMN, bucket).groupBy(BUCKET_COLUMN).applyInPandasWithState(
            bucket_function(scorer, entities), OUTPUT_SCHEMA, BUCKET_STATE_SCHEMA, "append", "NoTimeout")
    return packed.groupBy(*KEY_COLUMNS).applyInPandasWithState(
        group_function(scorer, entities), OUTPUT_SCHEMA, STATE_SCHEMA, "append", "NoTimeout")


def machine_sources(spark: SparkSession, config: LakewatchConfig, settings: StreamSettings,
                    progress: Progress) -> tuple[SourceRule, ...]:
    """The rules of the configured machine sources (lakewatch.streaming.entity_sources) that have readings in
    silver.readings now; none for a Kafka stream (its readings' `source` names the topic). Says which and why."""
    rules, skipped = source_rules(spark, config)
    for line in skipped:
        progress.say(f"machines by source: {line}")
    if settings.source != "delta":
        if rules:
            progress.say("machines by source: off for a Kafka stream (a message's source is its topic); list "
                         "machines in streaming.entities.series")
        return ()
    present = with_readings(spark, config.tables.silver_readings, rules)
    for rule in rules:
        if rule not in present:
            progress.say(f"machines by source: {rule.name} has no readings in {config.tables.silver_readings}: "
                         "not used (a stream that runs when it is first ingested scores it channel by channel "
                         "until restarted)")
    return present


def entity_scorer(config: LakewatchConfig, settings: StreamSettings, progress: Progress,
                  book: Any = None, rules: Sequence[SourceRule] = ()) -> EntityScorer | None:
    """The scorer of the multichannel entities of `streaming.entities` and of the machine sources' `rules` (None
    when there are none): its detector ("" = lakewatch_machine, the multichannel default, as the evaluate job
    picks for several channels) built for each channel count, and its flag threshold. ConfigError when the
    detector is unknown, univariate or has no threshold. `book`: per-series thresholds (ops.thresholds), rows of
    channel '*'."""
    entities = settings.entity_settings()
    rules = tuple(rules)
    if not entities.enabled and not rules:
        return None
    counts = sorted(entities.channel_counts() | {len(r.channels) for r in rules})
    model_version = ""
    if entities.model:
        name = entities.model
        channel_lists = [tuple(c) for c in entities.series.values()] + [tuple(r.channels) for r in rules]
        from lakewatch.tracking.machines import machine_model_detector  # MLflow only when a model is asked for

        detectors = {counts[0]: machine_model_detector(config, entities.model, channel_lists,
                                                       "streaming.entities.model")}
        model_version = _model_version(entities.model)
        default_threshold = config.detectors.threshold(MULTICHANNEL_DEFAULT)
    else:
        name = config.detectors.resolve(entities.detector or MULTICHANNEL_DEFAULT)
        detectors = {}
        for count in counts:
            try:
                detectors[count] = get_detector(name, catalog=config.detectors, channels=count)
            except (LakewatchError, ValueError) as exc:
                raise ConfigError(f"streaming.entities.detector {name!r} for entities of {count} channels: "
                                  f"{exc}") from exc
            if not detectors[count].multivariate:
                raise ConfigError(f"streaming.entities.detector {name!r} is univariate; an entity of {count} "
                                  f"channels needs a multichannel one (e.g. {MULTICHANNEL_DEFAULT})")
        default_threshold = config.detectors.threshold(name)
    threshold = entities.threshold if entities.threshold is not None else default_threshold
    if threshold is None:
        raise ConfigError(f"streaming.entities.threshold is not set and detector {name!r} has no calibrated "
                          f"threshold (detectors.{name}.threshold in conf/detectors.yaml)")
    explainer = make_explainer(settings.explain, by_channel=True)
    which = [f"series {g} ({len(c)} channels; streaming.entities.series)" for g, c in entities.series.items()]
    which += [f"every series of {r.describe()}" for r in rules]
    progress.say(f"machines (multichannel entities): {'; '.join(which)}; each scored as one (channel '*') by {name}, "
                 f"threshold {threshold}, tolerance {entities.tolerance}, wait {entities.wait}"
                 + ("; <source>.entity: false scores a source's channels one by one" if rules else ""))
    return EntityScorer(entities, detectors, float(threshold), settings.max_lateness_ns, settings.event_gap_rows,
                        explainer, name, book, rule_channels=[r.channels for r in rules], model_version=model_version)


STREAM_TABLES = ("gold_anomaly_scores", "gold_anomalies", "silver_quarantine")


def ensure_stream_tables(spark: SparkSession, config: LakewatchConfig) -> set[str]:
    """Create the tables the stream writes (STREAM_TABLES: gold.anomaly_scores, gold.anomalies and
    silver.quarantine) if absent, then the curated views (lakewatch.views) whose tables all exist; return the
    names of the tables made new and empty."""
    made = tables.ensure_tables(spark, config, STREAM_TABLES)
    views.create_views(spark, config)
    return made


def check_state_store(spark: SparkSession, progress: Progress) -> str:
    """The configured state store provider (RocksDB is expected; anything else is reported)."""
    provider = spark.conf.get(PROVIDER_CONF, "")
    if provider != ROCKSDB_PROVIDER:
        progress.say(f"warning: {PROVIDER_CONF} is {provider or 'unset (HDFS-backed)'}; expected {ROCKSDB_PROVIDER}")
    return provider


def _start(df: DataFrame, name: str, checkpoint: str, trigger: dict[str, Any], handler: Any,
           partitions: int) -> StreamingQuery:
    spark = df.sparkSession
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))  # state partitions: fixed by the 1st run
    try:
        return (df.writeStream.queryName(name).option("checkpointLocation", checkpoint).trigger(**trigger)
                .foreachBatch(handler).start())
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)


def write_malformed(batch_df: DataFrame, batch_id: int, *, table_name: str, checkpoint: str,
                    location: str = "") -> None:
    """foreachBatch handler of the Kafka malformed-message query: append to silver.quarantine (at `location` when
    given), once per batch."""
    from lakewatch.streaming.kafka import to_quarantine

    append_idempotent(to_quarantine(batch_df), table_name, query_app_id(batch_df.sparkSession, checkpoint), batch_id,
                      location)


def check_state_layout(spark: SparkSession, checkpoint: str, buckets: int) -> None:
    """Record the state layout (``state_buckets``) in a new checkpoint; for one a query has started from,
    ConfigError when it was made with another layout (a checkpoint without the record predates buckets: 0)."""
    fs, marker = hadoop_path(spark, f"{checkpoint.rstrip('/')}/{LAYOUT_FILE}")
    _, metadata = hadoop_path(spark, f"{checkpoint.rstrip('/')}/metadata")
    if not fs.exists(metadata):
        stream = fs.create(marker, True)
        try:
            stream.write(json.dumps({"state_buckets": buckets}).encode())
        finally:
            stream.close()
        return
    recorded = 0
    if fs.exists(marker):
        text = "".join(r.value for r in spark.read.text(marker.toString()).collect())
        recorded = int(json.loads(text)["state_buckets"])
    if recorded != buckets:
        raise ConfigError(f"checkpoint {checkpoint} keeps its state with streaming.state_buckets={recorded}; this run "
                          f"asks for {buckets}. The layout is fixed by a checkpoint's first run: set "
                          f"streaming.state_buckets={recorded}, or start from a new checkpoint")


def run_score_stream(spark: SparkSession, config: LakewatchConfig, settings: StreamSettings, progress: Progress,
                     stop: threading.Event | None = None, resolved: ResolvedDetector | None = None) -> StreamReport:
    """Run the score stream until it is caught up (availableNow) or `stop` is set (processingTime).

    Stops at a batch boundary when `stop` is set (waiting up to settings.grace_stop_seconds for the running
    batch). Raises StreamFailed when the query fails.
    """
    resolved = resolved or resolve_detector(config, settings)
    check_state_store(spark, progress)
    ensure_stream_tables(spark, config)
    explainer = make_explainer(settings.explain)
    if explainer is None:
        progress.say("explanations off (streaming.explain.enabled is false)")
    threshold = settings.flag_threshold(config, resolved.name)
    book = _threshold_book(config, threshold, progress)
    notifier = _alerts_hook(spark, config, progress)
    scorer = SeriesScorer(resolved.detector, threshold, settings.watermark_ns, settings.max_lateness_ns,
                          settings.event_gap_rows, explainer, book, resolved.name,
                          _operator_alerts(notifier, resolved, progress))
    rules = machine_sources(spark, config, settings, progress)
    entities = entity_scorer(config, settings, progress, book, rules)
    checkpoint = checkpoint_dir(config, settings)
    check_state_layout(spark, checkpoint, settings.state_buckets)
    report = StreamReport(checkpoint=checkpoint, detector=resolved.name)

    def on_batch(stats: BatchStats) -> None:
        report.add(stats)
        progress.say(batch_line(stats))

    if settings.source == "kafka":
        readings, malformed, malformed_trigger = kafka_streams(spark, settings)
        source_name = f"kafka://{settings.kafka.get('topic')}"
    else:
        readings, malformed, malformed_trigger = delta_readings(spark, config, settings), None, {}
        source_name = config.tables.silver_readings
    targets = (config.tables.gold_anomaly_scores, config.tables.gold_anomalies, config.tables.silver_quarantine)
    spec = SinkSpec(*targets, resolved.name, resolved.model_version, threshold, checkpoint, source_name,
                    locations=table_locations(spark, targets), entities=entities is not None,
                    driver_commit_rows=settings.driver_commit_rows, decide_beside_writes=scorer.alerts is not None)
    trigger = parse_trigger(settings.trigger)
    began = time.perf_counter()
    handler = partial(write_batch, spec=spec, on_batch=on_batch,
                      on_events=notifier.on_events if notifier is not None else None)
    queries = [_start(score_readings_stream(readings, scorer, settings, entities, rules), settings.query_name,
                      checkpoint, trigger, handler, settings.state_partitions)]
    if malformed is not None:
        bad_checkpoint = f"{checkpoint.rstrip('/')}_malformed"
        queries.append(_start(malformed, f"{settings.query_name}_malformed", bad_checkpoint, malformed_trigger,
                              partial(write_malformed, table_name=spec.quarantine_table,
                                      location=spec.location(spec.quarantine_table),
                                      checkpoint=bad_checkpoint), 1))
    report.query_id = str(queries[0].id)
    progress.say(f"query {settings.query_name} ({report.query_id}) started: {source_name} -> "
                 f"{spec.scores_table}, {spec.anomalies_table}; detector {resolved.name} ({resolved.model_version}),"
                 f" trigger {settings.trigger}, checkpoint {checkpoint}")
    try:
        report.stopped = _await(queries, stop, settings.grace_stop_seconds)
    finally:
        if notifier is not None:
            notifier.close()
    report.seconds = time.perf_counter() - began
    return report


def _threshold_book(config: LakewatchConfig, default: float, progress: Progress) -> Any:
    """Per-series flag thresholds from ops.thresholds (lakewatch.thresholds), when thresholds.enabled: the Python
    workers re-read them at most every thresholds.refresh, so a recalibration needs no restart."""
    from lakewatch.thresholds.current import threshold_book
    from lakewatch.thresholds.settings import threshold_settings

    settings = threshold_settings(config)
    if not settings.enabled:
        return None
    progress.say(f"per-series thresholds on: {config.tables.ops_thresholds}, re-read every {settings.refresh} "
                 f"(default {default})")
    return threshold_book(config, default, settings)


def _alerts_hook(spark: SparkSession, config: LakewatchConfig, progress: Progress) -> Any:
    """The alerts notifier the stream calls in each micro-batch (lakewatch.alerts), when alerts.enabled."""
    from lakewatch.alerts.rules import alerts_settings

    settings = alerts_settings(config)
    if not settings.enabled:
        return None
    from lakewatch.alerts.notifier import Notifier

    notifier = Notifier(spark, config, settings)
    progress.say(f"alerts on: {len(settings.rules)} rules -> {sorted(settings.channels)}, outbox "
                 f"{config.tables.ops_alerts}")
    return notifier


def _operator_alerts(notifier: Any, resolved: ResolvedDetector, progress: Progress) -> Any:
    """The alerts the stateful operator sends itself (lakewatch.alerts.operator), when alerts.send_from is operator
    and some rule can be decided there (no digest; rules without a cooldown)."""
    if notifier is None or notifier.settings.send_from != "operator":
        return None
    from lakewatch.alerts.operator import OperatorAlerts

    alerts = OperatorAlerts(notifier.settings, resolved.name, resolved.model_version)
    if not alerts.active:
        progress.say("alerts sent from the batch only: the digest (alerts.digest.max_events > 0) or every rule's "
                     "cooldown needs the driver")
        return None
    progress.say(f"alerts sent from the stateful operator for rules {[r.name for r in alerts.rules]} (events at or "
                 "above the thresholds' ceiling when thresholds are on); the batch records them and sends the rest")
    return alerts


def _await(queries: list[StreamingQuery], stop: threading.Event | None, grace_s: float) -> str:
    """Wait until every query ends or `stop` is set; return how they ended."""
    while True:
        for query in queries:
            error = query.exception()
            if error is not None:
                for other in queries:
                    other.stop()
                raise StreamFailed(f"query {query.name} failed: {error}")
        if all(not q.isActive for q in queries):
            return "caught up"
        if stop is not None and stop.is_set():
            for query in queries:
                _stop_at_boundary(query, grace_s)
            return "stopped"
        queries[0].awaitTermination(0.5)


def _stop_at_boundary(query: StreamingQuery, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()
