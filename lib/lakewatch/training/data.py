"""The driver's side of the training data path: read the feature table with Spark, check it, and write the
training rows as Parquet files that hold whole series sorted by time, for the DDP ranks to read themselves.

Nothing is collected to the driver but aggregates (row counts, quantiles, the list of channel names).
Rows with a null, NaN or infinite value are dropped and counted (the detectors skip such rows when scoring,
so training skips them too); a table that is empty, has only non-finite values, or whose every series is
shorter than the window is a :class:`TrainingDataError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.config import LakewatchConfig
from lakewatch.deep.windows import RobustScaler, fit_scaler
from lakewatch.errors import LakewatchError
from lakewatch.training.settings import TrainingSettings

KEY = "series_key"
TS = "ts"
_MAX_CHANNELS = 1024


class TrainingDataError(LakewatchError, ValueError):
    """The training table is missing, empty, or unusable for the chosen window; the message names it."""


@dataclass(frozen=True)
class TrainingFrame:
    """Training rows as (series_key, ts, v0..vk), the names of the k+1 channels and the source table."""

    frame: DataFrame
    value_columns: tuple[str, ...]
    channel_names: tuple[str, ...]
    table: str


@dataclass(frozen=True)
class DataSummary:
    """What the checks found: series, rows, rows dropped as non-finite, the longest series (finite rows)."""

    series: int
    rows: int
    dropped_rows: int
    longest: int

    @property
    def kept_rows(self) -> int:
        """Rows that go into training."""
        return self.rows - self.dropped_rows


def training_frame(spark: SparkSession, config: LakewatchConfig, settings: TrainingSettings) -> TrainingFrame:
    """The training rows of the configured table (univariate: one series per (series, channel); multivariate:
    channels pivoted into columns per (series, timestamp)), non-finite values still in."""
    table = settings.table or config.tables.gold_features
    try:
        df = spark.table(table)
    except AnalysisException as exc:
        raise TrainingDataError(f"training table {table} cannot be read: {str(exc).splitlines()[0]}") from None
    needed = [settings.series_column, settings.channel_column, settings.timestamp_column, settings.value_column]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise TrainingDataError(f"training table {table} lacks column(s) {missing}; it has {df.columns}")
    value = F.col(settings.value_column).cast("double")
    if not settings.multivariate:
        rows = df.select(F.concat_ws("/", F.col(settings.series_column), F.col(settings.channel_column)).alias(KEY),
                         F.col(settings.timestamp_column).alias(TS), value.alias("v0"))
        return TrainingFrame(rows, ("v0",), (settings.value_column,), table)
    channels = settings.channels or _distinct_channels(df, settings.channel_column, table)
    pivoted = (df.groupBy(F.col(settings.series_column).alias(KEY), F.col(settings.timestamp_column).alias(TS))
               .pivot(settings.channel_column, list(channels)).agg(F.first(value)))
    columns = tuple(f"v{i}" for i in range(len(channels)))
    rows = pivoted.select(KEY, TS, *[F.col(f"`{c}`").alias(v) for c, v in zip(channels, columns, strict=True)])
    return TrainingFrame(rows, columns, tuple(channels), table)


def _distinct_channels(df: DataFrame, column: str, table: str) -> tuple[str, ...]:
    names = [r[0] for r in df.select(column).distinct().limit(_MAX_CHANNELS + 1).collect() if r[0] is not None]
    if len(names) > _MAX_CHANNELS:
        raise TrainingDataError(f"training table {table} has more than {_MAX_CHANNELS} channels; name the ones "
                                "to train on with training.channels")
    return tuple(sorted(names))


def _finite(columns: tuple[str, ...]) -> Column:
    cond = F.lit(True)
    for c in columns:
        col = F.col(c)
        cond = cond & col.isNotNull() & ~F.isnan(col) & (F.abs(col) != F.lit(float("inf")))
    return cond


def summarize(frame: TrainingFrame, window: int) -> DataSummary:
    """Count series, rows and non-finite rows in one pass; raise :class:`TrainingDataError` when the table is
    empty, holds no finite value, or has no series of at least ``window`` finite rows."""
    ok = _finite(frame.value_columns)
    per_series = frame.frame.groupBy(KEY).agg(F.count(F.lit(1)).alias("n"),
                                             F.sum(F.when(ok, 0).otherwise(1)).alias("bad"))
    row = per_series.agg(F.count(F.lit(1)).alias("series"), F.sum("n").alias("rows"),
                         F.sum("bad").alias("bad"), F.max(F.col("n") - F.col("bad")).alias("longest")).first()
    summary = DataSummary(int(row["series"] or 0), int(row["rows"] or 0), int(row["bad"] or 0),
                          int(row["longest"] or 0))
    if summary.rows == 0:
        raise TrainingDataError(f"training table {frame.table} is empty; expected feature rows "
                                "(series_id, channel, timestamp, value) - run the features job first")
    if summary.kept_rows == 0:
        raise TrainingDataError(f"training table {frame.table}: all {summary.rows:,} rows have a null, NaN or "
                                f"infinite value in {list(frame.channel_names)}; nothing to train on")
    if summary.longest < window:
        raise TrainingDataError(
            f"training window {window} is longer than every series in {frame.table} (the longest has "
            f"{summary.longest:,} finite rows); lower training.window or add data"
        )
    return summary


def fit_global_scaler(frame: TrainingFrame, mode: str) -> RobustScaler:
    """A scaler from per-channel quartiles of the finite training values (Spark's approximate percentiles)."""
    clean = frame.frame.where(_finite(frame.value_columns))
    row = clean.agg(*[F.percentile_approx(c, [0.25, 0.5, 0.75], 10_000).alias(c)
                      for c in frame.value_columns]).first()
    q = [row[c] for c in frame.value_columns]
    return fit_scaler(mode, [v[1] for v in q], [v[0] for v in q], [v[2] for v in q])


def write_training_files(frame: TrainingFrame, path: str, files: int) -> None:
    """Write the finite training rows to Parquet under ``path``: ``files`` files split by ranges of series key
    (so every series is whole in one file), each sorted by series and time."""
    (frame.frame.where(_finite(frame.value_columns))
     .repartitionByRange(files, KEY)
     .sortWithinPartitions(KEY, TS)
     .write.mode("overwrite").parquet(path))


def list_training_files(path: str) -> list[tuple[str, int]]:
    """The Parquet files under ``path`` with their row counts (from the file footers), largest first."""
    fs, root = pafs.FileSystem.from_uri(path)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    out = []
    for info in infos:
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet"):
            with fs.open_input_file(info.path) as handle:
                out.append((_rejoin(path, root, info.path), pq.ParquetFile(handle).metadata.num_rows))
    return sorted((f for f in out if f[1] > 0), key=lambda f: (-f[1], f[0]))


def assign_files(files: list[tuple[str, int]], ranks: int) -> list[list[str]]:
    """Spread files over ``ranks`` so that row counts are balanced (largest file to the lightest rank)."""
    loads = [0] * ranks
    out: list[list[str]] = [[] for _ in range(ranks)]
    for name, rows in files:
        r = loads.index(min(loads))
        out[r].append(name)
        loads[r] += rows
    return out


def _rejoin(original: str, root: str, found: str) -> str:
    """Keep the scheme of ``original`` on a path returned by the filesystem."""
    if "://" not in original:
        return found
    return original.rstrip("/") + found[len(root.rstrip("/")):]
