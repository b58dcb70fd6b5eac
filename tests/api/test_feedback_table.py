"""gold.feedback as Spark sees it: rows the API appends with deltalake are read by Spark (by path and through the
catalog), and a table the pipeline created with Spark takes the API's appends."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.testing import assertDataFrameEqual

from lakewatch import schemas, tables
from lakewatch.api.feedback import append_feedback, feedback_row
from lakewatch.readers import LakeReader
from tests.conftest import make_config

EVENT = {"event_id": "0123456789abcdef", "series_id": "pump", "channel": "flow",
         "start": datetime(2026, 3, 1, 6, 0, tzinfo=UTC), "detector": "lakewatch_nab", "model_version": "v1",
         "peak_score": 0.93, "threshold": 0.5}
AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def _expected(spark, rows):
    return spark.createDataFrame([tuple(r[f] for f in schemas.GOLD_FEEDBACK.fieldNames()) for r in rows],
                                 schemas.GOLD_FEEDBACK)


def test_spark_reads_the_verdicts_the_api_appends(spark, tmp_path) -> None:
    config = make_config(tmp_path / "lake")
    rows = [feedback_row(EVENT, False, "sensor swap", "ana", AT), feedback_row(EVENT, True, None, None, AT)]
    with LakeReader(config) as reader:
        for row in rows:
            append_feedback(reader, row)
    name = config.tables.gold_feedback
    location = config.lakehouse.table(name)
    assertDataFrameEqual(spark.read.format("delta").load(location), _expected(spark, rows))
    protocol = spark.sql(f"DESCRIBE DETAIL delta.`{location}`").select("minReaderVersion", "minWriterVersion").first()
    assert (protocol.minReaderVersion, protocol.minWriterVersion) == (1, 2)


def test_the_api_appends_to_the_table_the_pipeline_registers(spark, tmp_path) -> None:
    """The pipeline creates every fixed-schema table with Spark (lakewatch.tables.ensure_tables): the API's appends
    land in that catalog table, and SELECT through the catalog sees them."""
    config = make_config(tmp_path / "lake")
    name = config.tables.gold_feedback
    assert tables.ensure_table(spark, config, name, schemas.GOLD_FEEDBACK) is True
    row = feedback_row(EVENT, True, "confirmed by the pump's log", "bo", AT)
    with LakeReader(config) as reader:
        append_feedback(reader, row)
    spark.sql(f"REFRESH TABLE {name}")
    assertDataFrameEqual(spark.sql(f"SELECT * FROM {name}"), _expected(spark, [row]))
