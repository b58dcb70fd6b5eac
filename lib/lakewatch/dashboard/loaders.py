"""What the pages share: the lakehouse opened once per app, cached loaders with a short TTL (so the pages follow the
stream as it writes), and the few Streamlit helpers every page uses."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from lakewatch.dashboard import data as lake
from lakewatch.dashboard import mlflow_store
from lakewatch.dashboard.settings import DEFAULT_REFRESH, OPTIONS_ENV, load_settings
from lakewatch.errors import ConfigError


def _refresh_seconds() -> int:
    # Read once, at import: st.cache_data takes its TTL when the loaders are defined. A bad value is reported by
    # load_settings when the page opens the lakehouse.
    try:
        return max(1, int(json.loads(os.environ.get(OPTIONS_ENV) or "{}").get("refresh", DEFAULT_REFRESH)))
    except (ValueError, TypeError, AttributeError):
        return DEFAULT_REFRESH


REFRESH = _refresh_seconds()
# The series catalogue (every series' first and last time) scans the whole of gold.anomaly_scores (0.7 s at 10M rows,
# BENCHMARKS.md) and changes slowly: it is re-read less often than the pages' own data.
CATALOG_REFRESH = max(60, 4 * REFRESH)


@st.cache_resource(show_spinner=False)
def _open(options: str) -> lake.DashboardData:
    return lake.open_data(load_settings(options).config)


def current() -> lake.DashboardData:
    """The DashboardData of the lakehouse the dashboard job selected; a bad config stops the page with the reason."""
    try:
        return _open(os.environ.get(OPTIONS_ENV, ""))
    except ConfigError as exc:
        st.error(f"The dashboard's configuration does not load: {exc}")
        st.stop()
        raise  # unreachable: st.stop ends the script run


def _key(data: lake.DashboardData) -> str:
    return f"{data.config.table_root}#{data.config.config_hash}"


@st.cache_data(ttl=REFRESH, show_spinner=False, max_entries=256)
def _cached(name: str, key: str, args: tuple, _data: lake.DashboardData) -> Any:
    return getattr(lake, name)(_data, *args)


def load(name: str, *args: Any) -> Any:
    """``lakewatch.dashboard.data.<name>(data, *args)`` on the current lakehouse, cached for REFRESH seconds."""
    data = current()
    return _cached(name, _key(data), tuple(args), data)


def load_now(name: str, *args: Any) -> Any:
    """``lakewatch.dashboard.data.<name>(data, *args)`` read now, not cached: for small reads a page must show
    fresh right after it wrote (a verdict just given)."""
    return getattr(lake, name)(current(), *args)


@st.cache_data(ttl=CATALOG_REFRESH, show_spinner=False, max_entries=16)
def _cached_slowly(name: str, key: str, args: tuple, _data: lake.DashboardData) -> Any:
    return getattr(lake, name)(_data, *args)


def load_slowly(name: str, *args: Any) -> Any:
    """Like :func:`load`, cached for CATALOG_REFRESH seconds: for whole-table scans that change slowly."""
    data = current()
    return _cached_slowly(name, _key(data), tuple(args), data)


@st.cache_data(ttl=REFRESH, show_spinner=False)
def _mlflow(name: str, uri: str | None, _store: mlflow_store.MlflowStore) -> Any:
    return getattr(mlflow_store, name)(_store)


def mlflow(name: str) -> tuple[mlflow_store.MlflowStore, Any]:
    """The configured MLflow store and ``mlflow_store.<name>(store)`` on it, cached for REFRESH seconds."""
    store = mlflow_store.mlflow_store(current().config)
    return store, _mlflow(name, f"{store.uri}|{store.experiment}|{store.registered_model}", store)


def explain_missing(*keys: str, otherwise: str | None = None) -> None:
    """Show, as a note, which of tables `keys` do not exist yet and the job that creates each; when they all
    exist, the caption `otherwise` (if any). Returns nothing: a page's bare expression would be drawn (magic)."""
    reason = current().empty_because(*keys)
    if reason:
        st.info(f"Nothing to show yet: {reason}.", icon=":material/info:")
    elif otherwise:
        st.caption(otherwise)


def table(frame, key: str, **columns: Any) -> None:
    """Show `frame` as a table: times to the second, `columns` (name -> st.column_config) as given."""
    config: dict[str, Any] = {c: st.column_config.DatetimeColumn(c, format="YYYY-MM-DD HH:mm:ss")
                              for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])}
    config.update(columns)
    st.dataframe(frame, hide_index=True, key=key, column_config=config)


def chart(figure, key: str, toolbar: bool = False) -> None:
    """Show a plotly figure at the page's width; the zoom toolbar only where it helps (time series)."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": toolbar, "displaylogo": False})


def live(body: Callable[[], None]) -> None:
    """Run a page's body in a fragment that reruns every REFRESH seconds while the sidebar's Live toggle is on."""
    every = REFRESH if st.session_state.get("live", True) else None
    st.fragment(run_every=every)(body)()
