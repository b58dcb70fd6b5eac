"""Layered configuration: conf/base.yaml, conf/<env>.yaml, then key=value overrides, resolved once
into a frozen, validated dataclass."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lakewatch.errors import ConfigError
from lakewatch.layout import Lakehouse

T = TypeVar("T")

DEFAULT_ENV = "local"
SERIES_ID_MODES = ("path", "file_name", "column")
FILE_FORMATS = ("csv", "parquet")


def project_root() -> Path:
    """The lakewatch checkout: $LAKEWATCH_HOME if set, else the folder above lib/."""
    env = os.environ.get("LAKEWATCH_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TableNames:
    """Catalog names (schema.table) of every table lakewatch writes."""

    bronze_readings: str
    silver_readings: str
    silver_quarantine: str
    gold_features: str
    gold_labels: str
    gold_nab_results: str
    gold_nab_scores: str
    gold_anomaly_scores: str
    gold_anomalies: str
    ops_pipeline_runs: str
    ops_validation_runs: str

    def all(self) -> dict[str, str]:
        """Every table name by its config key."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SparkSettings:
    """Session settings applied by lakewatch.spark.get_spark."""

    shuffle_partitions: int
    conf: tuple[tuple[str, str], ...]
    rows_per_partition: int = 2_000_000


@dataclass(frozen=True)
class SyntheticSettings:
    """Shape of the built-in synthetic data set."""

    series: int
    points: int
    channels: int
    seed: int
    start: str
    interval_seconds: int
    anomalies_per_series: int
    partitions: int


@dataclass(frozen=True)
class QualitySettings:
    """Data-quality rules for refining bronze into silver and validating silver."""

    suite: str
    min_rows_per_series: int
    timestamp_min: str
    timestamp_max: str
    max_lateness_seconds: int


@dataclass(frozen=True)
class FeatureSettings:
    """Causal window features computed into gold.features."""

    windows: tuple[int, ...]
    lags: tuple[int, ...]


@dataclass(frozen=True)
class FileSourceSpec:
    """How to read a directory of CSV or Parquet files into readings."""

    name: str
    path: str
    format: str = "csv"
    delimiter: str = ","
    timestamp_column: str = "timestamp"
    timestamp_format: str | None = None
    timezone: str = "UTC"
    series_id_from: str = "path"
    series_id_column: str | None = None
    value_column: str | None = None
    channel_columns: tuple[str, ...] = ()
    labels: str | None = None

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns every file of this source must have."""
        cols = [self.timestamp_column]
        if self.series_id_from == "column" and self.series_id_column:
            cols.append(self.series_id_column)
        cols.extend([self.value_column] if self.value_column else self.channel_columns)
        return tuple(cols)


@dataclass(frozen=True)
class LakewatchConfig:
    """The whole resolved configuration of one job run."""

    env: str
    table_root: str
    tables: TableNames
    spark: SparkSettings
    synthetic: SyntheticSettings
    quality: QualitySettings
    features: FeatureSettings
    results_dir: str = "nab_results"
    sources: Mapping[str, FileSourceSpec] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def config_hash(self) -> str:
        """A short, stable hash of the resolved configuration, stamped on every run."""
        blob = json.dumps(self.raw, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def lakehouse(self) -> Lakehouse:
        """Every location under this configuration's table root."""
        return Lakehouse(self.table_root)

    def path(self, *parts: str) -> str:
        """A location under the table root."""
        return "/".join([self.table_root.rstrip("/"), *parts])

    def settings(self, section: str, cls: type[T]) -> T:
        """Section `section` of the resolved configuration as the frozen dataclass `cls`; the feature modules
        (training, tuning, streaming) define their own settings class and read it through here."""
        data = self.raw.get(section)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"config section '{section}' must be a mapping, found {type(data).__name__}")
        return _dataclass_from(cls, data, section)

    def source(self, name: str) -> FileSourceSpec:
        """The file source called `name`, or a ConfigError listing the known ones."""
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(f"unknown source '{name}': conf/ defines {sorted(self.sources)}") from None


def load_config(env: str | None = None, overrides: Iterable[str] = (),
                conf_dir: str | Path | None = None) -> LakewatchConfig:
    """Load conf/base.yaml, then conf/<env>.yaml if present, then $LAKEWATCH_TABLE_ROOT, then `key.sub=value`
    overrides."""
    conf_path = Path(conf_dir) if conf_dir else project_root() / "conf"
    env = env or os.environ.get("LAKEWATCH_ENV", DEFAULT_ENV)
    merged = _read_yaml(conf_path / "base.yaml", required=True)
    env_file = conf_path / f"{env}.yaml"
    if env != DEFAULT_ENV and not env_file.exists():
        raise ConfigError(f"environment '{env}': no {env_file} (known: {_known_envs(conf_path)})")
    merged = _deep_merge(merged, _read_yaml(env_file, required=False))
    if os.environ.get("LAKEWATCH_TABLE_ROOT"):
        merged["table_root"] = os.environ["LAKEWATCH_TABLE_ROOT"]
    for item in overrides:
        merged = _deep_merge(merged, _parse_override(item))
    return _build(env, merged, conf_path.parent)


def _known_envs(conf_path: Path) -> list[str]:
    return sorted(p.stem for p in conf_path.glob("*.yaml") if p.stem != "base")


def _read_yaml(path: Path, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, found {type(data).__name__}")
    return data


def _parse_override(item: str) -> dict[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{item}' must look like section.key=value")
    node: dict[str, Any] = {}
    cursor = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cursor[part] = {}
        cursor = cursor[part]
    cursor[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
    return node


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_path(value: str, root: Path) -> str:
    if "://" in value or value.startswith(("/", "file:")):
        return value
    return str((root / value).resolve())


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = data.get(name)
    if not isinstance(section, Mapping):
        raise ConfigError(f"config section '{name}' is missing or not a mapping")
    return section


def _dataclass_from(cls: type, section: Mapping[str, Any], where: str, /, **extra: Any) -> Any:
    fields = set(cls.__dataclass_fields__) - set(extra)
    unknown = set(section) - fields
    missing = {f for f in fields if f not in section and _has_no_default(cls, f)}
    if unknown:
        raise ConfigError(f"config section '{where}': unknown keys {sorted(unknown)} (known: {sorted(fields)})")
    if missing:
        raise ConfigError(f"config section '{where}': missing keys {sorted(missing)}")
    try:
        return cls(**{**section, **extra})
    except TypeError as exc:
        raise ConfigError(f"config section '{where}': {exc}") from exc


def _has_no_default(cls: type, name: str) -> bool:
    f = cls.__dataclass_fields__[name]
    return f.default is MISSING and f.default_factory is MISSING


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"config value {name} must be a positive integer, found {value!r}")


def _build_source(name: str, spec: Mapping[str, Any], root: Path) -> FileSourceSpec:
    spec = dict(spec)
    kind = spec.pop("kind", "files")
    if kind != "files":
        raise ConfigError(f"source '{name}': kind '{kind}' is not supported (expected 'files')")
    if "channel_columns" in spec:
        spec["channel_columns"] = tuple(spec["channel_columns"] or ())
    for key in ("path", "labels"):
        if spec.get(key):
            spec[key] = _resolve_path(str(spec[key]), root)
    source = _dataclass_from(FileSourceSpec, spec, f"sources.{name}", name=name)
    if source.format not in FILE_FORMATS:
        raise ConfigError(f"source '{name}': format '{source.format}' is not one of {FILE_FORMATS}")
    if source.series_id_from not in SERIES_ID_MODES:
        raise ConfigError(f"source '{name}': series_id_from '{source.series_id_from}' is not one of {SERIES_ID_MODES}")
    if source.series_id_from == "column" and not source.series_id_column:
        raise ConfigError(f"source '{name}': series_id_from 'column' needs series_id_column")
    if bool(source.value_column) == bool(source.channel_columns):
        raise ConfigError(f"source '{name}': give exactly one of value_column or channel_columns")
    return source


def _build(env: str, data: dict[str, Any], root: Path) -> LakewatchConfig:
    table_root = _resolve_path(str(data.get("table_root") or "delta_tables"), root)
    data = {**data, "table_root": table_root}
    spark = _section(data, "spark")
    spark_settings = SparkSettings(
        shuffle_partitions=spark.get("shuffle_partitions", 8),
        conf=tuple(sorted((str(k), str(v)) for k, v in (spark.get("conf") or {}).items())),
        rows_per_partition=spark.get("rows_per_partition", 2_000_000),
    )
    _positive("spark.shuffle_partitions", spark_settings.shuffle_partitions)
    _positive("spark.rows_per_partition", spark_settings.rows_per_partition)
    synthetic = _dataclass_from(SyntheticSettings, _section(data, "synthetic"), "synthetic")
    for key in ("series", "points", "channels", "interval_seconds", "partitions"):
        _positive(f"synthetic.{key}", getattr(synthetic, key))
    quality = dict(_section(data, "quality"))
    quality["suite"] = _resolve_path(str(quality.get("suite", "")), root)
    features = dict(_section(data, "features"))
    feature_settings = FeatureSettings(
        windows=tuple(features.get("windows") or ()), lags=tuple(features.get("lags") or ())
    )
    for w in (*feature_settings.windows, *feature_settings.lags):
        _positive("features.windows/lags entry", w)
    return LakewatchConfig(
        env=env,
        table_root=table_root,
        tables=_dataclass_from(TableNames, _section(data, "tables"), "tables"),
        spark=spark_settings,
        synthetic=synthetic,
        quality=_dataclass_from(QualitySettings, quality, "quality"),
        features=feature_settings,
        results_dir=str((data.get("evaluation") or {}).get("results_dir") or "nab_results"),
        sources={name: _build_source(name, spec, root) for name, spec in (data.get("sources") or {}).items()},
        raw=data,
    )
