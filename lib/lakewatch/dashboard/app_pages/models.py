"""Models: the NAB scoreboard (gold.nab_scores beside the published entries), MLflow runs and the champion."""

from __future__ import annotations

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, current, live, load, mlflow, table


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
        with left:
            chart(charts.scoreboard_chart(board), "scoreboard_chart")
        with right:
            score = {"format": "%.2f"}
            table(board, "scoreboard", standard=st.column_config.NumberColumn("standard", **score),
                  reward_low_FP_rate=st.column_config.NumberColumn("low FP", **score),
                  reward_low_FN_rate=st.column_config.NumberColumn("low FN", **score))
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
        table(runs, "mlflow_runs")


st.title("Models")
live(body)
