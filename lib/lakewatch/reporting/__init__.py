"""Reports: one period of the lakehouse (readings, anomalies with their charts and SHAP bars, feedback precision, data
quality, drift and retrains) as a self-contained HTML file and a PDF of the same content.

:mod:`.period` parses ``--since``; :mod:`.content` gathers the report's content from the tables through the dashboard's
data functions (a LakeReader: deltalake/DuckDB, no Spark); :mod:`.charts` draws its charts with matplotlib on axes it
is given, so :mod:`.html` (Jinja2, charts embedded as PNG) and :mod:`.pdf` (matplotlib's PdfPages) draw the same ones.
"""

from __future__ import annotations

from lakewatch.reporting.content import Report, gather
from lakewatch.reporting.period import Period, parse_period
from lakewatch.reporting.write import write_report

__all__ = ["Period", "Report", "gather", "parse_period", "write_report"]
