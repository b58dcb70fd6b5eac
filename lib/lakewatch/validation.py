"""Great Expectations 1.x validation of silver.readings, with results in ops.validation_runs and Data Docs.

The suite lives in conf/expectations/*.yaml: a list of GX expectation class names and their
arguments, where ${quality.key} is replaced by that key of the quality config.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import yaml
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.config import LakewatchConfig, QualitySettings
from lakewatch.data_docs import DataDocsError, make_offline
from lakewatch.errors import ConfigError

_PLACEHOLDER = re.compile(r"^\$\{quality\.(\w+)\}$")
_DATASOURCE = "lakewatch_spark"


@dataclass(frozen=True)
class ExpectationFailure:
    """One expectation that failed: its type, arguments and how many rows broke it."""

    expectation: str
    kwargs: dict[str, Any]
    unexpected_count: int
    element_count: int

    def describe(self) -> str:
        """One line naming the expectation, its column(s) and the rows that broke it."""
        target = self.kwargs.get("column") or self.kwargs.get("column_list")
        return f"{self.expectation}({target}): {self.unexpected_count:,} of {self.element_count:,} rows failed"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one table against its suite."""

    run_id: str
    suite: str
    table_name: str
    success: bool
    evaluated: int
    failures: tuple[ExpectationFailure, ...]
    data_docs: str | None


def load_suite_spec(path: str | Path, quality: QualitySettings) -> dict[str, Any]:
    """Read a suite file and fill its ${quality.*} placeholders; raise ConfigError if malformed."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"expectation suite {path} does not exist")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec.get("expectations"), list) or not spec.get("name"):
        raise ConfigError(f"expectation suite {path} needs a name and a list of expectations")
    return _substitute(spec, quality, path)


def _substitute(node: Any, quality: QualitySettings, path: Path) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, quality, path) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, quality, path) for v in node]
    if isinstance(node, str) and (match := _PLACEHOLDER.match(node)):
        key = match.group(1)
        if not hasattr(quality, key):
            raise ConfigError(f"expectation suite {path}: unknown placeholder {node}")
        value = getattr(quality, key)
        return _as_datetime(value) if key.startswith("timestamp_") else value
    return node


def _as_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def build_expectations(specs: list[dict[str, Any]]) -> list[gx.expectations.Expectation]:
    """GX expectation objects from [{type: ClassName, kwargs: {...}}]; unknown types are a ConfigError."""
    built = []
    for spec in specs:
        cls = getattr(gx.expectations, str(spec.get("type")), None)
        if cls is None:
            raise ConfigError(f"unknown expectation type {spec.get('type')!r}: expected a class name from "
                              "great_expectations.expectations")
        built.append(cls(**(spec.get("kwargs") or {})))
    return built


def series_summary(readings: DataFrame) -> DataFrame:
    """Rows per series and channel (columns series_id, channel, rows), for per-series expectations."""
    return readings.groupBy("series_id", "channel").agg(F.count(F.lit(1)).alias("rows"))


class SuiteRunner:
    """Runs expectation suites on Spark DataFrames through one file-backed GX context with Data Docs."""

    def __init__(self, context_dir: str | Path) -> None:
        self.context = gx.get_context(mode="file", project_root_dir=str(context_dir))
        # lakewatch prints its own progress; GX's per-metric bars would flood the job's console.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_or_update_spark(name=_DATASOURCE)

    def run(self, df: DataFrame, asset_name: str, suite_name: str, expectations: list) -> tuple[bool, list, int]:
        """Validate `df`; return (success, failures, expectations evaluated) and refresh Data Docs."""
        asset = self._asset(asset_name)
        batch = self._batch_definition(asset, asset_name)
        suite = self.context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=expectations))
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch, suite=suite))
        checkpoint = self.context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{suite_name}_checkpoint", validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="update_data_docs")], result_format={"result_format": "SUMMARY"}))
        result = checkpoint.run(batch_parameters={"dataframe": df})
        if (index := self.docs_index()) and Path(index).is_file():
            try:
                make_offline(Path(index).parent)  # the rebuilt pages load their CSS and JavaScript from the site
            except DataDocsError as exc:  # the validation itself stands; only its pages stay on the CDN
                print(f"[lakewatch] warning: Data Docs left loading from the network: {exc}", file=sys.stderr)
        failures, evaluated = [], 0
        for run in result.run_results.values():
            for item in run.results:
                evaluated += 1
                if not item.success:
                    failures.append(_failure(item))
        return result.success, failures, evaluated

    def docs_index(self) -> str | None:
        """Path of the local Data Docs index page, if built."""
        urls = [site.get("site_url", "") for site in self.context.get_docs_sites_urls()]
        return next((u.replace("file://", "") for u in urls if u), None)

    def _asset(self, name: str):
        try:
            return self.source.get_asset(name)
        except LookupError:
            return self.source.add_dataframe_asset(name=name)

    def _batch_definition(self, asset, name: str):
        try:
            return asset.get_batch_definition(name)
        except KeyError:
            return asset.add_batch_definition_whole_dataframe(name)


def _failure(item: Any) -> ExpectationFailure:
    config = item.expectation_config
    result = item.result or {}
    kwargs = {k: v for k, v in (config.kwargs or {}).items() if k not in ("batch_id",)}
    unexpected = result.get("unexpected_count")
    return ExpectationFailure(
        expectation=config.type, kwargs=kwargs,
        unexpected_count=int(unexpected) if unexpected is not None else 1,
        element_count=int(result.get("element_count") or 0),
    )


def gx_context_dir(config: LakewatchConfig) -> Path:
    """Where the GX project (and its Data Docs) lives: under the table root when it is local."""
    return config.lakehouse.gx


def validate_silver(spark: SparkSession, config: LakewatchConfig, run_id: str) -> ValidationReport:
    """Validate silver.readings (rows and per-series counts) and record the outcome in ops.validation_runs."""
    spec = load_suite_spec(config.quality.suite, config.quality)
    runner = SuiteRunner(gx_context_dir(config))
    # GX computes its metrics in several Spark jobs (and the series summary one more): held in memory, silver
    # is read from its files once instead of once a job.
    readings = spark.table(config.tables.silver_readings).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ok_rows, failures, evaluated = runner.run(readings, "silver_readings", spec["name"],
                                                  build_expectations(spec["expectations"]))
        series_specs = spec.get("series_expectations") or []
        ok_series = True
        if series_specs:
            ok_series, more, n = runner.run(series_summary(readings), "silver_series", f"{spec['name']}_series",
                                            build_expectations(series_specs))
            failures, evaluated = failures + more, evaluated + n
    finally:
        readings.unpersist()
    report = ValidationReport(run_id=run_id, suite=spec["name"], table_name=config.tables.silver_readings,
                              success=ok_rows and ok_series, evaluated=evaluated, failures=tuple(failures),
                              data_docs=runner.docs_index())
    record_validation(spark, config, report)
    return report


def record_validation(spark: SparkSession, config: LakewatchConfig, report: ValidationReport) -> None:
    """Append one row for `report` to ops.validation_runs."""
    row = (report.run_id, report.suite, report.table_name, report.success, report.evaluated, len(report.failures),
           json.dumps([f.__dict__ for f in report.failures], default=str), report.data_docs, datetime.now(UTC))
    tables.ensure_table(spark, config, config.tables.ops_validation_runs, schemas.OPS_VALIDATION_RUNS)
    tables.append(spark.createDataFrame([row], schemas.OPS_VALIDATION_RUNS), config.tables.ops_validation_runs)
