"""Delta read layer without Spark (deltalake and DuckDB), shared by the dashboard, the API and reports.

    from lakewatch.config import load_config
    from lakewatch.readers import LakeReader

    with LakeReader(load_config("local")) as reader:
        reader.view("series_health")                       # a curated view (lakewatch.views), Arrow table
        reader.view("open_anomalies", series_id="cpu_1")   # one series; NoSuchSeries when it is in no table
        reader.table("gold_anomalies", where={"series_id": "cpu_1"})   # a Delta table via deltalake
        reader.sql("SELECT count(*) FROM gold.anomalies WHERE peak_score >= ?", [0.9])   # DuckDB, parameters only

Errors an app maps to a message: lakewatch.errors.TableNotFound (a table not created yet, with the job to run),
lakewatch.errors.NoSuchSeries (404), lakewatch.views.ViewError (an unknown view name).
"""

from __future__ import annotations

from lakewatch.errors import NoSuchSeries, TableNotFound
from lakewatch.readers.duck import connect, delta_extension_path
from lakewatch.readers.lake import EXPLANATION_KEY, TABLE_HINTS, LakeReader, open_reader
from lakewatch.views import VIEWS, ViewError

__all__ = ["EXPLANATION_KEY", "TABLE_HINTS", "VIEWS", "LakeReader", "NoSuchSeries", "TableNotFound", "ViewError",
           "connect", "delta_extension_path", "open_reader"]
