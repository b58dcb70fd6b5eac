"""The NAB corpus: a NAB checkout's data/ tree read as files, plus its labelled anomaly windows."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.config import FileSourceSpec
from lakewatch.errors import SourceError
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.sources.base import KnownSources, RawRead, nothing_known
from lakewatch.sources.files import FileSource

LABEL_KIND = "labelled_window"


def read_nab_windows(labels_path: str | Path) -> list[tuple[str, str, str]]:
    """(series_id, window_start, window_end) for every window in a NAB windows file (``NabCorpus.windows_file``).

    The series id is the file key without '.csv' (e.g. realKnownCause/nyc_taxi).
    """
    path = Path(labels_path)
    if not path.exists():
        raise SourceError(f"NAB labels file {path} does not exist")
    try:
        windows = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SourceError(f"NAB labels file {path} is not valid JSON: {exc}") from exc
    rows = []
    for key, spans in windows.items():
        series = key[:-4] if key.endswith(".csv") else key
        for span in spans:
            if len(span) != 2:
                raise SourceError(f"NAB labels file {path}: window {span!r} of {key} is not [start, end]")
            rows.append((series, str(span[0]), str(span[1])))
    return rows


class NabSource:
    """NAB's data/<category>/<file>.csv files, with series ids category/file and their windows as labels."""

    def __init__(self, spec: FileSourceSpec, nab_dir: str | None = None) -> None:
        if nab_dir:
            corpus = NabCorpus(Path(nab_dir))
            spec = FileSourceSpec(**{**spec.__dict__, "path": str(corpus.data_dir),
                                     "labels": str(corpus.windows_file)})
        self.spec = spec
        self.name = spec.name
        self._files = FileSource(spec)
        self.parse = self._files.parse

    def read(self, spark: SparkSession, known: KnownSources = nothing_known) -> RawRead:
        """The corpus' raw rows (files `known()` names left unread) and its labelled windows."""
        raw = self._files.read(spark, known)
        labels = self._labels(spark) if self.spec.labels else None
        return RawRead(rows=raw.rows, rejected=raw.rejected, labels=labels, files_read=raw.files_read,
                       files_skipped=raw.files_skipped)

    def _labels(self, spark: SparkSession) -> DataFrame:
        rows = read_nab_windows(self.spec.labels or "")
        df = spark.createDataFrame(rows, "series_id string, window_start string, window_end string")
        return df.select(
            "series_id",
            F.to_timestamp("window_start").alias("window_start"),
            F.to_timestamp("window_end").alias("window_end"),
            F.lit(LABEL_KIND).alias("kind"),
        )
