"""The lakewatch operator dashboard (``streamlit run`` this file; ``./spark-submit.sh dashboard`` does)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lakewatch.dashboard.loaders import REFRESH, current

# Not "pages/": Streamlit would serve a folder of that name as pages of its own, without this script.
PAGES = Path(__file__).with_name("app_pages")

st.set_page_config(page_title="lakewatch", page_icon=":material/waves:", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),  # at /
    st.Page(PAGES / "series_explorer.py", title="Series explorer", icon=":material/show_chart:", url_path="series"),
    st.Page(PAGES / "anomaly_review.py", title="Anomaly review", icon=":material/crisis_alert:", url_path="review"),
    st.Page(PAGES / "data_quality.py", title="Data quality", icon=":material/fact_check:", url_path="quality"),
    st.Page(PAGES / "drift.py", title="Drift", icon=":material/trending_up:", url_path="drift"),
    st.Page(PAGES / "models.py", title="Models", icon=":material/model_training:", url_path="models"),
])
with st.sidebar:
    st.toggle(f"Live (re-read every {REFRESH} s)", value=True, key="live",
              help="Re-read the Delta tables while the stream writes; turn off to study a page without it moving.")
    st.caption(f"Lakehouse: `{current().config.table_root}`")
navigation.run()
