"""A directory of CSV or Parquet files, mapped to readings by a column mapping from conf/.

Each file is checked before Spark reads it (empty, binary, header-only, missing columns, wrong
delimiter); a file that fails is rejected with its reason, the rest are read as raw text. Each row's
record_order follows the files (by path, then line by line), whatever order Spark reads their splits in
(lakewatch.sources.file_order).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch.config import FileSourceSpec
from lakewatch.errors import SourceError
from lakewatch.sources.base import (
    RAW_COLUMNS,
    RAW_SCHEMA,
    KnownSources,
    ParseSpec,
    RawRead,
    RejectedFile,
    nothing_known,
)
from lakewatch.sources.file_order import FileOrderLayout, file_order_layout, split_unit_shift
from lakewatch.sources.filesystem import HEAD_BYTES, FileInfo, list_files, read_head, relative_stem
from lakewatch.spark import local_frame

CORRUPT = "_corrupt_record"
OTHER_DELIMITERS = (",", ";", "\t", "|")
VALUE_CHANNEL = "value"


@dataclass(frozen=True)
class HeaderCheck:
    """The outcome of checking one CSV file's first bytes: its header columns, or why it is rejected."""

    columns: tuple[str, ...] = ()
    reason: str | None = None


def check_csv_head(head: bytes, size: int, spec: FileSourceSpec) -> HeaderCheck:
    """Check a CSV file's first bytes against the source's mapping; say why it cannot be read, if so."""
    if size == 0:
        return HeaderCheck(reason="empty file (0 bytes)")
    if b"\x00" in head:
        return HeaderCheck(reason="binary content (NUL bytes), not delimited text")
    text = _decode(head, truncated=size > len(head))
    if text is None:
        return HeaderCheck(reason="not UTF-8 text")
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        return HeaderCheck(reason="no header line (only blank lines)")
    columns = _split_header(lines[0], spec.delimiter)
    missing = [c for c in spec.required_columns if c not in columns]
    if missing:
        return HeaderCheck(reason=_missing_reason(missing, columns, lines[0], spec))
    if len(set(columns)) != len(columns):
        return HeaderCheck(reason=f"duplicate column names in header {list(columns)}")
    if len(lines) == 1 and size <= len(head):
        return HeaderCheck(reason="header only, no data rows")
    return HeaderCheck(columns=columns)


def _decode(head: bytes, truncated: bool) -> str | None:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the read limit is not an encoding error.
        if truncated and exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8")
        return None


def _split_header(line: str, delimiter: str) -> tuple[str, ...]:
    return tuple(field.strip() for field in next(csv.reader([line], delimiter=delimiter)))


def _missing_reason(missing: list[str], columns: tuple[str, ...], header: str, spec: FileSourceSpec) -> str:
    reason = f"missing column(s) {missing}; header has {list(columns)}"
    for other in OTHER_DELIMITERS:
        if other != spec.delimiter and all(c in _split_header(header, other) for c in spec.required_columns):
            return f"{reason}: the delimiter looks like {other!r}, the mapping says {spec.delimiter!r}"
    return reason


class FileSource:
    """Reads a directory tree of CSV or Parquet files as raw readings."""

    def __init__(self, spec: FileSourceSpec, path: str | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.root = path or spec.path
        self.parse = ParseSpec(timestamp_format=spec.timestamp_format, timezone=spec.timezone)

    def read(self, spark: SparkSession, known: KnownSources = nothing_known) -> RawRead:
        """List and check every file, then read those whose (path, version) `known()` does not name.

        Raises SourceError if no file can be read at all.
        """
        root, files = list_files(spark, self.root, self.name)
        groups, rejected = self._check_files(spark, files)
        if not groups:
            detail = "; ".join(f"{r.path}: {r.reason}" for r in rejected[:5])
            raise SourceError(f"source '{self.name}' at {self.root}: no readable file ({detail})")
        if self.spec.series_id_from == "file_name":
            _refuse_colliding_names(self.name, root, [f.path for group in groups.values() for f in group])
        readable = sum(len(group) for group in groups.values())
        groups = _unknown_files(groups, set(known()))
        to_read = sorted((f for group in groups.values() for f in group), key=lambda f: f.path)
        ranks = {f.path: rank for rank, f in enumerate(to_read)}
        layout = file_order_layout(self.name, len(to_read), max((f.size for f in to_read), default=0),
                                   split_unit_shift(spark))
        frames = [self._read_group(spark, root, columns, group, ranks, layout) for columns, group in groups.items()]
        rows = frames[0] if frames else spark.createDataFrame([], RAW_SCHEMA)
        for frame in frames[1:]:
            rows = rows.unionByName(frame)
        files_read = sum(len(group) for group in groups.values())
        return RawRead(rows=rows, rejected=tuple(rejected), files_read=files_read,
                       files_skipped=readable - files_read)

    def _check_files(self, spark: SparkSession,
                     files: list[FileInfo]) -> tuple[dict[tuple[str, ...], list[FileInfo]], list[RejectedFile]]:
        groups: dict[tuple[str, ...], list[FileInfo]] = defaultdict(list)
        rejected: list[RejectedFile] = []
        for info in files:
            check = (self._check_csv(spark, info) if self.spec.format == "csv" else self._check_parquet(spark, info))
            if check.reason:
                rejected.append(RejectedFile(info.path, info.version, check.reason))
            else:
                groups[check.columns].append(info)
        return groups, rejected

    def _check_csv(self, spark: SparkSession, info: FileInfo) -> HeaderCheck:
        head = read_head(spark, info.path, HEAD_BYTES) if info.size else b""
        return check_csv_head(head, info.size, self.spec)

    def _check_parquet(self, spark: SparkSession, info: FileInfo) -> HeaderCheck:
        try:
            columns = tuple(spark.read.parquet(info.path).columns)
        except Exception as exc:
            return HeaderCheck(reason=f"not a readable Parquet file ({type(exc).__name__})")
        missing = [c for c in self.spec.required_columns if c not in columns]
        if missing:
            return HeaderCheck(reason=f"missing column(s) {missing}; file has {list(columns)}")
        return HeaderCheck(columns=columns)

    def _read_group(self, spark: SparkSession, root: str, columns: tuple[str, ...], files: list[FileInfo],
                    ranks: dict[str, int], layout: FileOrderLayout) -> DataFrame:
        paths = [f.path for f in files]
        if self.spec.format == "csv":
            schema = T.StructType([T.StructField(c, T.StringType()) for c in columns]
                                  + [T.StructField(CORRUPT, T.StringType())])
            df = (spark.read.schema(schema)
                  .option("header", "true").option("sep", self.spec.delimiter)
                  .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
                  .csv(paths))
        else:
            df = spark.read.parquet(*paths).select(*[F.col(f"`{c}`").cast("string").alias(c) for c in columns])
            df = df.withColumn(CORRUPT, F.lit(None).cast("string"))
        # The position is taken on the scan, where the task is the one that read the row.
        df = (df.withColumn("_file", _normalised_path(F.col("_metadata.file_path")))
              .withColumn("_position", layout.position_in_file(self.name)))
        catalog = local_frame(
            spark, [(_normalised_str(f.path), f.path, f.version, relative_stem(root, f.path), ranks[f.path])
                    for f in files],
            "_file string, source string, source_version string, _file_series string, _file_rank long",
        )
        df = df.join(F.broadcast(catalog), "_file").withColumn(
            "record_order", layout.record_order(F.col("_file_rank"), F.col("_position")))
        return self._to_raw(df, columns)

    def _to_raw(self, df: DataFrame, columns: tuple[str, ...]) -> DataFrame:
        spec = self.spec
        fields = [F.coalesce(F.col(f"`{c}`"), F.lit("")) for c in columns]
        raw_record = F.coalesce(F.col(CORRUPT), F.concat_ws(spec.delimiter, *fields))
        corrupt = F.col(CORRUPT).isNotNull()
        series = F.col(f"`{spec.series_id_column}`") if spec.series_id_from == "column" else (
            F.col("_file_series") if spec.series_id_from == "path" else F.element_at(F.split("_file_series", "/"), -1))
        base = df.select(
            series.alias("series_id"),
            F.when(corrupt, None).otherwise(F.col(f"`{spec.timestamp_column}`")).alias("ts_raw"),
            raw_record.alias("raw_record"),
            F.lit(self.name).alias("source_name"), "source", "source_version", "record_order",
            *[F.when(corrupt, None).otherwise(F.col(f"`{c}`")).alias(f"_v_{i}")
              for i, c in enumerate(self._channels())],
        )
        if spec.value_column:
            long = base.withColumnRenamed("_v_0", "value_raw").withColumn("channel", F.lit(VALUE_CHANNEL))
        else:
            ids = [c for c in base.columns if not c.startswith("_v_")]
            long = base.unpivot(ids, [f"_v_{i}" for i in range(len(spec.channel_columns))], "_slot", "value_raw")
            names = F.create_map(*[x for i, c in enumerate(spec.channel_columns) for x in (F.lit(f"_v_{i}"), F.lit(c))])
            long = long.withColumn("channel", names[F.col("_slot")]).drop("_slot")
        return long.select(*RAW_COLUMNS)

    def _channels(self) -> tuple[str, ...]:
        return (self.spec.value_column,) if self.spec.value_column else self.spec.channel_columns


def _refuse_colliding_names(source: str, root: str, paths: list[str]) -> None:
    """Raise SourceError when two files in different folders would give the same series id by file name.

    ``valve1/0.csv`` and ``valve2/0.csv`` both name series ``0``: their rows would interleave as one series (and
    go to quarantine as out of order). ``series_id_from: path`` (the default) names them ``valve1/0``, ``valve2/0``.
    """
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in sorted(paths):
        by_name[relative_stem(root, path).rsplit("/", 1)[-1]].append(path)
    clashes = {name: files for name, files in by_name.items() if len(files) > 1}
    if clashes:
        name, files = next(iter(sorted(clashes.items())))
        more = f" (and {len(clashes) - 1} more name(s))" if len(clashes) > 1 else ""
        raise SourceError(
            f"source '{source}': series_id_from 'file_name' gives series '{name}' to {len(files)} files: "
            f"{', '.join(files[:4])}{more}; use series_id_from: path (the path under {root}) so each file is "
            "its own series")


def _unknown_files(groups: dict[tuple[str, ...], list[FileInfo]],
                   known: set[tuple[str, str]]) -> dict[tuple[str, ...], list[FileInfo]]:
    """`groups` without the files whose (path, version) is in `known`, and without groups left empty."""
    kept = {columns: [f for f in files if (f.path, f.version) not in known] for columns, files in groups.items()}
    return {columns: files for columns, files in kept.items() if files}


def _normalised_path(col: Column) -> Column:
    return F.regexp_replace(F.url_decode(col), r"^file:/+", "/")


def _normalised_str(path: str) -> str:
    return re.sub(r"^file:/+", "/", unquote(path))
