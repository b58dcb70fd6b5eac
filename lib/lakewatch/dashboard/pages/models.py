"""Models: the NAB scoreboard (gold.nab_scores beside the published entries), MLflow runs and the champion."""

from __future__ import annotations

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import current, live, load, mlflow


def body() -> None:
    """The scoreboard, then the MLflow side."""
    config = current().config
    st.subheader("NAB scoreboard")
    published = lake.published_scores(config)
    board = load("nab_scoreboard", published)
    ours = board[board["source"] == "lakewatch"] if not board.empty else board
    if not published:
        st.caption(f"No published scoreboard at {lake.nab_corpus(config) / 'results' / 'final_results.json'}.")
    if ours.empty:
        st.info(f"No lakewatch detector scored yet ({config.tables.gold_nab_scores} is empty): "
                "run ./spark-submit.sh evaluate_nab.")
    if not board.empty:
        left, right = st.columns([3, 2])
        left.plotly_chart(charts.scoreboard_chart(board), key="scoreboard_chart")
        right.dataframe(board, hide_index=True, key="scoreboard", height=min(600, 40 + 35 * len(board)))
    st.subheader("MLflow")
    store, champion = mlflow("champion")
    if store.uri is None:
        st.info(f"No MLflow store yet ({store.where}): training or tuning creates it.")
        return
    st.caption(f"Store: `{store.uri}`, experiment `{store.experiment}`")
    if champion is None:
        st.caption(f"No champion: {store.registered_model}@{store.champion_alias} is not set.")
    else:
        cols = st.columns(3)
        cols[0].metric("Champion", f"{champion['model']} v{champion['version']}")
        cols[1].metric("Alias", champion["alias"])
        cols[2].metric("Registered", f"{champion['created']:%Y-%m-%d %H:%M}")
        st.caption(f"run {champion['run_id']}, model at {champion['source']}")
    _, runs = mlflow("recent_runs")
    if runs.empty:
        st.caption(f"No runs in experiment {store.experiment!r} yet.")
    else:
        st.dataframe(runs, hide_index=True, key="mlflow_runs")


st.title("Models")
live(body)
