"""Layered configuration: conf/base.yaml and conf/detectors.yaml, then conf/<env>.yaml, then key=value overrides,
resolved once into a frozen dataclass validated on load.

Every settings dataclass (these sections, the feature modules' sections, detector parameters) is checked by one
mechanism, :func:`validated`: pydantic validates the mapping against the dataclass's annotated field types
(:data:`PositiveInt`, :data:`NonNegativeInt`, :data:`Fraction`, :data:`Flag`, ``Literal``, ``Field`` bounds) and
its ``__post_init__`` cross-field checks, and the first failure becomes one error naming ``section.key``, the
value found and what was expected."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BeforeValidator, Field, Strict, TypeAdapter, ValidationError

from lakewatch.errors import ConfigError, LakewatchError
from lakewatch.layout import Lakehouse

T = TypeVar("T")

DEFAULT_ENV = "local"
DETECTORS_FILE = "detectors.yaml"
PACKAGED_CONF = "_conf"
DEFAULT_DETECTOR_ALIAS = "default"


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


def _plain_bool(value: Any) -> Any:
    return value.item() if type(value).__name__ == "bool_" else value  # numpy booleans (hyperopt choices)


Int = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[float, BeforeValidator(_not_bool)]
PositiveInt = Annotated[int, BeforeValidator(_not_bool), Field(gt=0)]
NonNegativeInt = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
PositiveNumber = Annotated[float, BeforeValidator(_not_bool), Field(gt=0.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Flag = Annotated[bool, Strict(), BeforeValidator(_plain_bool)]


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def validated(cls: type[T], data: Mapping[str, Any], where: str, *, error: type[Exception] = ConfigError,
              **extra: Any) -> T:
    """An instance of the dataclass `cls` from the mapping `data`, validated by its annotated field types and
    its `__post_init__` checks; `extra` are fields given by the caller, not the mapping.

    Raises `error` (ConfigError by default) naming `where.key`, the value found and what was expected, for
    an unknown or missing key, a value of the wrong type or out of range, or a failed cross-field check.
    """
    if not isinstance(data, Mapping):
        raise error(f"{where}: found {type(data).__name__} {data!r}; expected a mapping")
    known = {f.name for f in dataclasses.fields(cls) if f.init} - set(extra)
    unknown = sorted(str(key) for key in set(data) - known)
    if unknown:
        raise error(f"{where}: unknown keys {unknown}; expected some of {sorted(known)}")
    try:
        return _adapter(cls).validate_python({**data, **extra})
    except ValidationError as exc:
        raise _one_error(exc, where, error) from None


def _one_error(exc: ValidationError, where: str, error: type[Exception]) -> Exception:
    """The first failure of a pydantic ValidationError as one `error` naming the key, the value and the rule."""
    first = exc.errors(include_url=False)[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, LakewatchError):  # a __post_init__ check: its message names the field already
        return cause if isinstance(cause, error) else error(f"{where}: {cause}")
    key = ".".join([where, *(str(part) for part in first["loc"])])
    if first["type"] == "missing":
        return error(f"{key}: missing; expected a value")
    rule = str(first["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
    rule = rule if rule.startswith("expected") else f"expected {rule}"
    return error(f"{key}={first['input']!r}: {rule}")


def project_root() -> Path:
    """Where relative paths of the configuration start: $LAKEWATCH_HOME if set, else the checkout this package
    lives in (the folder above lib/, holding conf/base.yaml), else the working directory (an installed wheel)."""
    env = os.environ.get("LAKEWATCH_HOME")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "conf" / "base.yaml").is_file():
        return checkout
    return Path.cwd()


def default_conf_dir() -> Path:
    """The configuration folder: conf/ of the project root when it has one, else the copy of conf/ an installed
    wheel carries inside the package (lakewatch/_conf), so executors and wheel tasks find the defaults."""
    conf = project_root() / "conf"
    if (conf / "base.yaml").is_file():
        return conf
    return Path(__file__).resolve().parent / PACKAGED_CONF


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
    gold_feedback: str = "gold.feedback"
    ops_alerts: str = "ops.alerts"
    gold_drift_metrics: str = "gold.drift_metrics"
    ops_retrain_requests: str = "ops.retrain_requests"
    ops_thresholds: str = "ops.thresholds"
    gold_evaluations: str = "gold.evaluations"

    def all(self) -> dict[str, str]:
        """Every table name by its config key."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SparkSettings:
    """Session settings applied by lakewatch.spark.get_spark."""

    shuffle_partitions: PositiveInt
    conf: tuple[tuple[str, str], ...]
    rows_per_partition: PositiveInt = 2_000_000
    # Settings of one job's session over `conf` ((job name, ((key, value), ...)), ...), from spark.job_conf.
    job_conf: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def conf_for(self, job: str) -> dict[str, str]:
        """The session settings of `job` (a name of lakewatch.jobs; "" = any other session): `conf`, then the
        job's own from spark.job_conf."""
        return {**dict(self.conf), **dict(dict(self.job_conf).get(job, ()))}


@dataclass(frozen=True)
class SyntheticSettings:
    """Shape of the built-in synthetic data set."""

    series: PositiveInt
    points: PositiveInt
    channels: PositiveInt
    seed: Int
    start: str
    interval_seconds: PositiveInt
    anomalies_per_series: NonNegativeInt
    partitions: PositiveInt


@dataclass(frozen=True)
class MachineSettings:
    """Shape and fault severities of the generated multichannel machines (the `machines` source; the generator's
    knobs are lakewatch.sources.machines.MachineSpec's). Every machine has ``healthy_rows + 5 * (fault_rows[1] +
    gap_rows[1])`` rows (:attr:`rows`); severities are in healthy standard deviations."""

    count: PositiveInt
    seed: Int
    channels: Annotated[int, BeforeValidator(_not_bool), Field(ge=3)]
    healthy_rows: PositiveInt
    fault_rows: tuple[PositiveInt, PositiveInt]
    gap_rows: tuple[PositiveInt, PositiveInt]
    drift_sigmas: PositiveNumber
    shift_sigmas: PositiveNumber
    vibration_sigmas: PositiveNumber
    partitions: PositiveInt
    # The score stream scores each machine as one multichannel entity (lakewatch.streaming.entity_sources).
    entity: bool = True

    def __post_init__(self) -> None:
        for key in ("fault_rows", "gap_rows"):
            low, high = getattr(self, key)
            if low > high:
                raise ConfigError(f"machines.{key}=[{low}, {high}]: expected [low, high] with low <= high")

    @property
    def rows(self) -> int:
        """Rows of every machine: the healthy start, then room for the longest faults and gaps of five kinds."""
        return self.healthy_rows + 5 * (self.fault_rows[1] + self.gap_rows[1])


@dataclass(frozen=True)
class QualitySettings:
    """Data-quality rules for refining bronze into silver and validating silver."""

    suite: str
    min_rows_per_series: NonNegativeInt
    timestamp_min: str
    timestamp_max: str
    max_lateness_seconds: NonNegativeInt


@dataclass(frozen=True)
class FeatureSettings:
    """Causal window features computed into gold.features."""

    windows: tuple[PositiveInt, ...]
    lags: tuple[PositiveInt, ...]


@dataclass(frozen=True)
class FileSourceSpec:
    """How to read a directory of CSV or Parquet files into readings."""

    name: str
    path: str
    format: Literal["csv", "parquet"] = "csv"
    delimiter: str = ","
    timestamp_column: str = "timestamp"
    timestamp_format: str | None = None
    timezone: str = "UTC"
    series_id_from: Literal["path", "file_name", "column"] = "path"
    series_id_column: str | None = None
    value_column: str | None = None
    channel_columns: tuple[str, ...] = ()
    labels: str | None = None
    # With two or more channel_columns, the score stream scores each series of this source as one multichannel
    # entity (a machine; lakewatch.streaming.entity_sources); false scores its channels one by one.
    entity: bool = True

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns every file of this source must have."""
        cols = [self.timestamp_column]
        if self.series_id_from == "column" and self.series_id_column:
            cols.append(self.series_id_column)
        cols.extend([self.value_column] if self.value_column else self.channel_columns)
        return tuple(cols)


@dataclass(frozen=True)
class DetectorEntry:
    """One named detector of conf/detectors.yaml: its kind, its own parameters, the named detectors it wraps
    (`base`) or combines (`members`), and the flag threshold it was calibrated for (None: not calibrated)."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    base: str | None = None
    members: tuple[str, ...] = ()
    description: str = ""
    threshold: Fraction | None = None

    def refs(self) -> tuple[str, ...]:
        """The names this entry refers to (its base, then its members)."""
        return (*((self.base,) if self.base else ()), *self.members)


@dataclass(frozen=True)
class DetectorCatalog:
    """Every named detector (section `detectors:`) and the default one's name (`default_detector:`); picklable,
    so Spark tasks receive it instead of reading conf/ on the executors."""

    default: str
    entries: Mapping[str, DetectorEntry] = field(default_factory=dict)

    def names(self) -> list[str]:
        """The names a detector can be asked for by, the alias "default" included, sorted."""
        return sorted([*self.entries, DEFAULT_DETECTOR_ALIAS])

    def resolve(self, name: str | None) -> str:
        """The entry name `name` stands for ("default", "" or None: the default detector); unknown names are
        returned unchanged (the caller decides how to fail)."""
        return self.default if name in (None, "", DEFAULT_DETECTOR_ALIAS) else name

    def threshold(self, name: str | None) -> float | None:
        """The calibrated flag threshold of detector `name` (None when it has none or is not in the catalog)."""
        entry = self.entries.get(self.resolve(name))
        return entry.threshold if entry is not None else None


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
    machines: MachineSettings
    results_dir: str = "nab_results"
    sources: Mapping[str, FileSourceSpec] = field(default_factory=dict)
    detectors: DetectorCatalog = field(default_factory=lambda: DetectorCatalog(""))
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

    def settings(self, section: str, cls: type[T]) -> T:
        """Section `section` of the resolved configuration as the frozen dataclass `cls`, checked by
        :func:`validated`; the feature modules (training, tuning, streaming) define their own settings class and
        read it through here."""
        data = self.raw.get(section)
        return validated(cls, {} if data is None else data, section)

    def source(self, name: str) -> FileSourceSpec:
        """The file source called `name`, or a ConfigError listing the known ones."""
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(f"unknown source '{name}': conf/ defines {sorted(self.sources)}") from None


def load_config(env: str | None = None, overrides: Iterable[str] = (),
                conf_dir: str | Path | None = None) -> LakewatchConfig:
    """Load conf/base.yaml and conf/detectors.yaml, then conf/<env>.yaml if present, then $LAKEWATCH_TABLE_ROOT,
    then `key.sub=value` overrides (e.g. `detectors.lakewatch_nab.params.suppress_rows=50`).

    Raises ConfigError naming the file or `section.key` when anything is missing, malformed or out of range,
    detector parameters included.
    """
    conf_path = Path(conf_dir) if conf_dir else default_conf_dir()
    env = env or os.environ.get("LAKEWATCH_ENV", DEFAULT_ENV)
    merged = _read_yaml(conf_path / "base.yaml", required=True)
    merged = _merge_detectors_file(merged, conf_path / DETECTORS_FILE)
    env_file = conf_path / f"{env}.yaml"
    if env != DEFAULT_ENV and not env_file.exists():
        raise ConfigError(f"environment '{env}': no {env_file} (known: {_known_envs(conf_path)})")
    merged = _deep_merge(merged, _read_yaml(env_file, required=False))
    if os.environ.get("LAKEWATCH_TABLE_ROOT"):
        merged["table_root"] = os.environ["LAKEWATCH_TABLE_ROOT"]
    for item in overrides:
        merged = _deep_merge(merged, _parse_override(item))
    return _build(env, merged, conf_path.parent if conf_dir else project_root(), conf_path)


def _known_envs(conf_path: Path) -> list[str]:
    return sorted(p.stem for p in conf_path.glob("*.yaml") if p.stem not in ("base", Path(DETECTORS_FILE).stem))


def _merge_detectors_file(base: dict[str, Any], path: Path) -> dict[str, Any]:
    """base.yaml plus conf/detectors.yaml (keys `default_detector` and `detectors`; `version` must be 1)."""
    data = _read_yaml(path, required=True)
    version = data.pop("version", 1)
    if version != 1:
        raise ConfigError(f"{path}: version {version!r}; expected 1")
    stray = sorted(set(data) - {"default_detector", "detectors"})
    if stray:
        raise ConfigError(f"{path}: unknown top-level keys {stray}; expected default_detector and detectors")
    clash = sorted(set(data) & set(base))
    if clash:
        raise ConfigError(f"{path.parent / 'base.yaml'}: keys {clash} belong in {path.name}")
    return {**base, **data}


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


def _build_catalog(data: Mapping[str, Any]) -> DetectorCatalog:
    """The `detectors:` section and `default_detector:` as a DetectorCatalog whose names all resolve and whose
    detectors all build (their parameters are checked by the detectors' own parameter classes)."""
    entries_raw = data.get("detectors")
    if not isinstance(entries_raw, Mapping) or not entries_raw:
        raise ConfigError(f"config section 'detectors' (conf/{DETECTORS_FILE}): found {entries_raw!r}; "
                          "expected a mapping of detector names to entries")
    if DEFAULT_DETECTOR_ALIAS in entries_raw:
        raise ConfigError(f"detectors.{DEFAULT_DETECTOR_ALIAS}: the name is reserved; name the default detector "
                          f"with default_detector: <name>")
    entries = {str(name): validated(DetectorEntry, raw, f"detectors.{name}") for name, raw in entries_raw.items()}
    default = data.get("default_detector")
    if default not in entries:
        raise ConfigError(f"default_detector={default!r}: expected the name of an entry of detectors "
                          f"({sorted(entries)})")
    for name, entry in entries.items():
        for ref in entry.refs():
            if ref not in entries:
                raise ConfigError(f"detectors.{name} refers to {ref!r}, which is not defined; "
                                  f"expected one of {sorted(entries)}")
    catalog = DetectorCatalog(str(default), entries)
    from lakewatch.detectors.registry import check_catalog  # lakewatch.detectors imports this module

    check_catalog(catalog)
    return catalog


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
    source = validated(FileSourceSpec, spec, f"sources.{name}", name=name)
    if source.series_id_from == "column" and not source.series_id_column:
        raise ConfigError(f"source '{name}': series_id_from 'column' needs series_id_column")
    if bool(source.value_column) == bool(source.channel_columns):
        raise ConfigError(f"source '{name}': give exactly one of value_column or channel_columns")
    return source


def _build(env: str, data: dict[str, Any], root: Path, conf_path: Path) -> LakewatchConfig:
    table_root = _resolve_path(str(data.get("table_root") or "delta_tables"), root)
    data = {**data, "table_root": table_root}
    spark = dict(_section(data, "spark"))
    spark["conf"] = tuple(sorted((str(k), str(v)) for k, v in (spark.get("conf") or {}).items()))
    spark["job_conf"] = tuple(sorted(
        (str(job), tuple(sorted((str(k), str(v)) for k, v in (conf or {}).items())))
        for job, conf in (spark.get("job_conf") or {}).items()))
    spark.setdefault("shuffle_partitions", 8)
    quality = dict(_section(data, "quality"))
    quality["suite"] = _resolve_path(str(quality.get("suite", "")), conf_path)
    features = _section(data, "features")
    return LakewatchConfig(
        env=env,
        table_root=table_root,
        tables=validated(TableNames, _section(data, "tables"), "tables"),
        spark=validated(SparkSettings, spark, "spark"),
        synthetic=validated(SyntheticSettings, _section(data, "synthetic"), "synthetic"),
        quality=validated(QualitySettings, quality, "quality"),
        features=validated(FeatureSettings, {"windows": features.get("windows") or (),
                                             "lags": features.get("lags") or ()}, "features"),
        machines=validated(MachineSettings, _section(data, "machines"), "machines"),
        results_dir=str((data.get("evaluation") or {}).get("results_dir") or "nab_results"),
        sources={name: _build_source(name, spec, root) for name, spec in (data.get("sources") or {}).items()},
        detectors=_build_catalog(data),
        raw=data,
    )
