"""The REST API of a lakewatch lakehouse (FastAPI, served by uvicorn; ``./spark-submit.sh api``).

Reads go through lakewatch.readers.LakeReader (deltalake/DuckDB, never Spark); data access is in
:mod:`~lakewatch.api.data`, routing in :mod:`~lakewatch.api.routes`, request/response models in
:mod:`~lakewatch.api.models`, the write endpoints' key in :mod:`~lakewatch.api.security`, in-process scoring and
state tokens in :mod:`~lakewatch.api.scoring`, gold.feedback in :mod:`~lakewatch.api.feedback`, Prometheus metrics
in :mod:`~lakewatch.api.metrics`, settings (section ``api:``) in :mod:`~lakewatch.api.settings`.
"""

from __future__ import annotations

from lakewatch.api.app import create_app
from lakewatch.api.settings import ApiSettings, api_settings

__all__ = ["ApiSettings", "api_settings", "create_app"]
