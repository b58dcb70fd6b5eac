"""Data quality: validation runs, where each refine's rows went, quarantine by reason over time, the Data Docs."""

from __future__ import annotations

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, current, explain_missing, live, load, table


def body() -> None:
    """Validation runs, data quality per run, quarantine per day and reason, the Data Docs link."""
    validations = load("validation_runs")
    docs = lake.data_docs_index(current().config, validations)
    if docs is not None:
        st.markdown(f"Great Expectations **Data Docs**: [{docs}]({docs.as_uri()}) (open it from this machine's "
                    "file system; browsers do not follow file links from a web page)")
    else:
        st.caption(f"No Data Docs built yet (looked in {current().config.lakehouse.gx}); `./spark-submit.sh "
                   "validate` builds them.")
    st.subheader("Validation runs")
    if validations.empty:
        explain_missing("ops_validation_runs", otherwise="No validation runs yet.")
    else:
        failed = int((~validations["success"].astype(bool)).sum())
        cols = st.columns(3)
        cols[0].metric("Validation runs", len(validations))
        cols[1].metric("Failed", failed)
        cols[2].metric("Last run", "passed" if bool(validations["success"].iloc[0]) else "failed",
                       help=f"validated at {validations['validated_at'].iloc[0]:%Y-%m-%d %H:%M:%S} UTC")
        table(validations, "validations")
    st.subheader("Quarantine by reason")
    quarantine = load("quarantine_by_reason")
    if quarantine.empty:
        explain_missing("silver_quarantine", otherwise="No rows quarantined.")
    else:
        chart(charts.quarantine_chart(quarantine), "quarantine_chart")
    st.subheader("Data quality per run")
    per_run = load("data_quality")
    if per_run.empty:
        st.caption("No refine or validate runs recorded yet.")
    else:
        table(per_run, "data_quality")


st.title("Data quality")
live(body)
