"""The evaluate job's Spark part: every entity of silver.readings scored against its labels (one pandas group per
entity, lakewatch.evaluation.entities), results per entity and overall into gold.evaluations.

Only per-entity metadata reaches the driver (each entity's channel names, the label windows of the chosen series
and one result row per entity); the readings stay on the executors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.config import LakewatchConfig
from lakewatch.errors import ConfigError, LakewatchError
from lakewatch.evaluation.entities import (
    ENTITY_RESULT_SCHEMA,
    MULTICHANNEL_DEFAULT,
    SCORED,
    EvaluationSpec,
    evaluate_entity,
    point_metrics,
)
from lakewatch.evaluation.nab_scoring import normalised_score
from lakewatch.provenance import git_commit

LABELS_TABLE = "gold.labels"
LABEL_COLUMN = "column:"
METRICS = ("f1", "nab", "both")
#: The detector an entity of more than one channel gets unless --detector names another (conf/detectors.yaml).
OVERALL = "*"


class EvaluationError(LakewatchError):
    """The evaluation cannot run on the chosen data (no labels, no series, a detector that does not fit)."""


@dataclass(frozen=True)
class EvaluateOptions:
    """The evaluate job's choices (see its --help)."""

    labels: str = LABELS_TABLE
    metric: str = "f1"
    detector: str | None = None
    train_rows: int = 0
    source: str | None = None
    series: str | None = None
    tolerance_seconds: float = 0.0
    threshold: float | None = None
    model: str | None = None  # an MLflow model URI for the entities of several channels

    @property
    def label_channel(self) -> str | None:
        """The channel holding the labels with --labels column:NAME, else None."""
        return self.labels[len(LABEL_COLUMN):] if self.labels.startswith(LABEL_COLUMN) else None


@dataclass
class Evaluation:
    """What a run found: one result dict per entity (gold.evaluations columns) and the overall one."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    overall: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row written, the overall one last."""
        return [*self.entities, self.overall]


def glob_pattern(glob: str) -> str:
    """A Java regular expression matching the whole of what the shell-style `glob` (* ? [..]) matches."""
    out = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            body = glob[i + 1:end]
            out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"


def chosen_readings(spark: SparkSession, config: LakewatchConfig, options: EvaluateOptions) -> DataFrame:
    """silver.readings of the chosen series (--series, --source) as (series_id, channel, micros, value)."""
    names = config.tables
    if not spark.catalog.tableExists(names.silver_readings):
        raise EvaluationError(f"{names.silver_readings} does not exist: run ./spark-submit.sh pipeline first")
    readings = spark.table(names.silver_readings)
    if options.series:
        readings = readings.where(F.col("series_id").rlike(glob_pattern(options.series)))
    if options.source:
        if not spark.catalog.tableExists(names.bronze_readings):
            raise EvaluationError(f"--source {options.source}: {names.bronze_readings} does not exist")
        ingested = (spark.table(names.bronze_readings).where(F.col("source_name") == options.source)
                    .select("series_id").distinct())
        readings = readings.join(ingested, "series_id", "left_semi")
    return readings.select("series_id", "channel", F.unix_micros("timestamp").alias("micros"), "value")


def entity_channels(readings: DataFrame) -> dict[str, list[str]]:
    """Each entity's channel names, sorted (one small row per entity to the driver)."""
    rows = readings.groupBy("series_id").agg(F.sort_array(F.collect_set("channel")).alias("channels")).collect()
    return {row.series_id: list(row.channels) for row in rows}


def label_windows(spark: SparkSession, table: str, series: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """gold.labels windows (start, end micros, inclusive) of `series`, by series_id."""
    if not spark.catalog.tableExists(table):
        raise EvaluationError(f"--labels gold.labels: {table} does not exist; write label windows there (series_id, "
                              "window_start, window_end) or use --labels column:NAME")
    rows = (spark.table(table).where(F.col("series_id").isin(list(series)))
            .select("series_id", F.unix_micros("window_start").alias("a"), F.unix_micros("window_end").alias("b"))
            .collect())
    windows: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        windows.setdefault(row.series_id, []).append((int(row.a), int(row.b)))
    return windows


def choose_models(config: LakewatchConfig, options: EvaluateOptions, channels: Mapping[str, Sequence[str]]
                  ) -> dict[str, Any]:
    """{--model's URI: its detector} for the entities of several channels (lakewatch.tracking.machines: the model
    wrapped in the machine likelihood); {} without --model. ConfigError naming the URI when it cannot be loaded or
    is univariate, EvaluationError when no chosen entity has the model's channels (an entity with other channels
    is skipped with the reason: lakewatch.evaluation.entities)."""
    if not options.model:
        return {}
    from lakewatch.tracking.machines import (  # MLflow only when a model is asked for
        channels_problem,
        machine_model_detector,
        model_channels,
    )

    label = options.label_channel
    detector = machine_model_detector(config, options.model, (), "--model")
    machines = [sorted(c for c in chans if c != label) for chans in channels.values()]
    if not any(len(chans) > 1 and channels_problem(detector, chans) is None for chans in machines):
        raise EvaluationError(f"--model {options.model}: no chosen entity has the channels the model scores, "
                              f"{model_channels(detector)}")
    return {options.model: detector}


def choose_detectors(config: LakewatchConfig, options: EvaluateOptions, channels: Mapping[str, Sequence[str]]
                     ) -> tuple[dict[int, str], dict[str, float]]:
    """The detector per channel count (key 0: the univariate one) and each one's flag threshold (--model's URI
    stands for the entities of several channels, flagged at --threshold or lakewatch_machine's); EvaluationError
    naming the entity when --detector does not fit it, ConfigError for an unknown detector or no threshold."""
    from lakewatch.detectors import DetectorParamsError, get_detector

    catalog = config.detectors
    label = options.label_channel
    counts = {len([c for c in chans if c != label]) for chans in channels.values()} - {0}
    if options.model:
        detectors = {0: catalog.resolve(None), **{n: options.model for n in counts if n > 1}}
    elif options.detector:
        if catalog.resolve(options.detector) not in catalog.entries:
            raise ConfigError(f"--detector {options.detector}: unknown detector; conf/detectors.yaml defines "
                              f"{catalog.names()}")
        name = catalog.resolve(options.detector)
        multi = get_detector(name, catalog=catalog).multivariate
        for entity, chans in sorted(channels.items()):
            used = [c for c in chans if c != label]
            if multi and len(used) == 1:
                raise EvaluationError(f"--detector {name} is multichannel; entity '{entity}' has one channel "
                                      f"({used[0]}): choose a univariate detector, or leave it out with --series")
            if not multi and len(used) > 1:
                raise EvaluationError(f"--detector {name} is univariate; entity '{entity}' has {len(used)} channels "
                                      f"({', '.join(used)}): choose a multichannel detector (e.g. "
                                      f"{MULTICHANNEL_DEFAULT}), or leave --detector out")
        detectors = {0: name}
    else:
        detectors = {0: catalog.resolve(None), **{n: MULTICHANNEL_DEFAULT for n in counts if n > 1}}
    for n in counts:
        if options.model and detectors.get(n) == options.model:  # a model is checked when it is loaded
            continue
        try:
            get_detector(detectors.get(n, detectors[0]), catalog=catalog, channels=n)
        except DetectorParamsError as exc:
            raise ConfigError(f"detector for entities of {n} channel(s): {exc}") from exc
    thresholds = {}
    for name in set(detectors.values()):
        calibrated = MULTICHANNEL_DEFAULT if name == options.model else name  # a model flags as the machines' default
        threshold = options.threshold if options.threshold is not None else catalog.threshold(calibrated)
        if threshold is None:
            raise ConfigError(f"detector {calibrated!r} has no calibrated threshold (detectors.{calibrated}.threshold "
                              "in conf/detectors.yaml): pass --threshold SCORE")
        thresholds[name] = float(threshold)
    return detectors, thresholds


def evaluate_entities(readings: DataFrame, spec: EvaluationSpec) -> DataFrame:
    """ENTITY_RESULT_SCHEMA rows, one per entity of `readings` (series_id, channel, micros, value), each entity
    scored in one pandas group on an executor."""
    def evaluate(group):  # a plain function: Spark infers the grouped-map kind from it
        return evaluate_entity(group, spec)

    return readings.groupBy("series_id").applyInPandas(evaluate, ENTITY_RESULT_SCHEMA)


COUNTED = ("rows_scored", "anomalous", "flagged", "tp", "fp", "fn", "tn")


def result_metrics(row: Mapping[str, Any], nab: bool) -> dict[str, Any]:
    """Point-wise metrics (lakewatch.evaluation.entities.point_metrics) of an entity result row or of
    :func:`summed_results`, and with ``nab`` its normalised NAB standard score (``nab_standard``, else None)."""
    out: dict[str, Any] = point_metrics(row["tp"], row["fp"], row["fn"], row["tn"])
    out["nab_standard"] = (normalised_score(row["nab_raw"], row["nab_null"], row["nab_perfect"])
                           if nab and row["nab_raw"] is not None else None)
    return out


def chosen_entities(spark: SparkSession, config: LakewatchConfig, options: EvaluateOptions
                    ) -> tuple[DataFrame, dict[str, list[str]]]:
    """The chosen readings (:func:`chosen_readings`) and each entity's channels; EvaluationError when no series is
    chosen."""
    readings = chosen_readings(spark, config, options)
    channels = entity_channels(readings)
    if not channels:
        chosen = " ".join(f"--{k} {v}" for k, v in (("series", options.series), ("source", options.source)) if v)
        raise EvaluationError(f"no readings in {config.tables.silver_readings} for the chosen series "
                              f"({chosen or 'all series'})")
    return readings, channels


def chosen_labels(spark: SparkSession, config: LakewatchConfig, options: EvaluateOptions,
                  channels: Mapping[str, Sequence[str]]) -> dict[str, list[tuple[int, int]]]:
    """The label windows of the chosen entities by series_id (none with --labels column:NAME); EvaluationError
    when the labels table is missing or has no window of any chosen series, or the label channel is absent."""
    label = options.label_channel
    if label is not None:
        if not any(label in chans for chans in channels.values()):
            raise EvaluationError(f"no labels for the chosen series: --labels column:{label} needs a channel "
                                  f"'{label}' in {config.tables.silver_readings} (ingest the label column as one of "
                                  f"the source's channel_columns); channels found: "
                                  f"{_some({c for v in channels.values() for c in v})}")
        return {}
    windows = label_windows(spark, config.tables.gold_labels, sorted(channels))
    if not windows:
        raise EvaluationError(f"no labels for the chosen series: {config.tables.gold_labels} has no window of "
                              f"any of {_some(channels)}")
    return windows


def run_evaluation(spark: SparkSession, config: LakewatchConfig, options: EvaluateOptions, run_id: str) -> Evaluation:
    """Evaluate the chosen entities, append the results to gold.evaluations and return them."""
    readings, channels = chosen_entities(spark, config, options)
    windows = chosen_labels(spark, config, options, channels)
    detectors, thresholds = choose_detectors(config, options, channels)
    nab = options.metric in ("nab", "both")
    spec = EvaluationSpec(detectors, thresholds, config.detectors, options.train_rows,
                          round(options.tolerance_seconds * 1e6), nab, options.label_channel, windows,
                          models=choose_models(config, options, channels))
    results = [row.asDict() for row in evaluate_entities(readings, spec).collect()]
    evaluation = _assemble(results, options, thresholds, nab, run_id, config)
    scored = [row for row in evaluation.entities if row["status"] == SCORED]
    if not scored:
        reasons = "; ".join(f"{row['entity']}: {row['reason']}" for row in evaluation.entities[:5])
        raise EvaluationError(f"no entity could be evaluated ({reasons})")
    tables.ensure_table(spark, config, config.tables.gold_evaluations, schemas.GOLD_EVALUATIONS)
    frame = spark.createDataFrame(evaluation.rows, schemas.GOLD_EVALUATIONS)
    tables.append(frame, config.tables.gold_evaluations)
    return evaluation


def _some(names) -> str:
    names = sorted(names)
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def summed_results(scored: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts (COUNTED) and NAB raw/null/perfect scores of scored entity result rows, summed: the overall
    row's inputs."""
    total: dict[str, Any] = {k: sum(int(row[k]) for row in scored) for k in COUNTED}
    total.update({k: sum(row[k] or 0.0 for row in scored) for k in ("nab_raw", "nab_null", "nab_perfect")})
    return total


def _assemble(results: list[dict[str, Any]], options: EvaluateOptions, thresholds: Mapping[str, float], nab: bool,
              run_id: str, config: LakewatchConfig) -> Evaluation:
    now = datetime.now(UTC)
    stamp = {"run_id": run_id, "evaluated_at": now, "labels": options.labels, "metric": options.metric,
             "train_rows": options.train_rows, "git_commit": git_commit(), "config_hash": config.config_hash}
    evaluation = Evaluation()
    for row in sorted(results, key=lambda r: r["entity"]):
        scored = row["status"] == SCORED
        metrics = result_metrics(row, nab) if scored else dict.fromkeys(
            ("precision", "recall", "f1", "false_alarm_rate", "missed_alarm_rate", "nab_standard"))
        evaluation.entities.append({
            **stamp, "entity": row["entity"], "channels": row["channels"], "detector": row["detector"],
            "threshold": thresholds.get(row["detector"]), "status": row["status"], "reason": row["reason"],
            **{k: int(row[k]) for k in COUNTED}, **metrics})
    scored = [row for row in results if row["status"] == SCORED]
    total = summed_results(scored)
    used = sorted({row["detector"] for row in scored})
    skipped = len(results) - len(scored)
    evaluation.overall = {
        **stamp, "entity": OVERALL, "channels": None, "detector": ",".join(used),
        "threshold": thresholds[used[0]] if len(used) == 1 else None, "status": SCORED,
        "reason": f"{len(scored)} entities scored, {skipped} skipped", **{k: total[k] for k in COUNTED},
        **result_metrics(total, nab)}
    return evaluation


def format_results(evaluation: Evaluation, nab: bool) -> list[str]:
    """The results as a small text table, entities then the overall row, skipped entities with their reason."""
    def number(value: Any, digits: int = 3) -> str:
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    head = f"{'entity':<24} {'ch':>3} {'detector':<18} {'scored':>8} {'anom':>6} {'flag':>6} {'prec':>6} " \
           f"{'recall':>6} {'f1':>6} {'FAR':>6} {'MAR':>6}" + (f" {'NAB':>7}" if nab else "")
    lines = [head]
    for row in evaluation.rows:
        if row["status"] != SCORED:
            lines.append(f"{row['entity']:<24} skipped: {row['reason']}")
            continue
        width = len(row["channels"].split(",")) if row["channels"] else 0
        lines.append(
            f"{row['entity']:<24} {width or '':>3} {row['detector'][:18]:<18} {row['rows_scored']:>8} "
            f"{row['anomalous']:>6} {row['flagged']:>6} {number(row['precision']):>6} {number(row['recall']):>6} "
            f"{number(row['f1']):>6} {number(row['false_alarm_rate']):>6} {number(row['missed_alarm_rate']):>6}"
            + (f" {number(row['nab_standard'], 2):>7}" if nab else ""))
    return lines
