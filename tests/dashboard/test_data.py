"""The dashboard's data access without Streamlit: whole frames from the known lakehouse, and the error branches."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from lakewatch.dashboard import data as lake
from lakewatch.dashboard.mlflow_store import champion, mlflow_store, recent_runs
from lakewatch.errors import LakewatchError, NoSuchSeries
from tests.conftest import make_config
from tests.dashboard import lakehouse as known


@pytest.fixture(scope="module")
def data(known_lake):
    opened = lake.open_data(known_lake)
    yield opened
    opened.reader.close()


def test_events_per_day_and_series(data):
    assert_frame_equal(lake.anomalies_per_day(data), pd.DataFrame({
        "day": [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)], "events": [1, 1, 2]}), check_dtype=False)
    per_series = lake.anomalies_per_series(data).drop(columns="last_event")
    assert_frame_equal(per_series, pd.DataFrame({
        "series_id": ["machine_temp", "cpu_util", "pump"], "channel": ["value", "value", "pressure"],
        "events": [2, 1, 1], "open_events": [0, 0, 1]}), check_dtype=False)


def test_freshness_and_lag(data):
    fresh = lake.freshness(data)
    newest = known.START + known.STEP * (known.POINTS - 1)
    assert (fresh.newest_reading, fresh.newest_silver, fresh.scored_rows) == (newest, newest, 4 * known.POINTS)
    assert fresh.lag == timedelta(0)
    assert fresh.age(newest + timedelta(minutes=1)) == timedelta(seconds=30)


def test_series_points_are_the_range_asked_for(data):
    start = known.SPIKE.start
    points = lake.series_points(data, "machine_temp", ["value"], start, start + known.STEP * 3)
    expected = pd.DataFrame({"timestamp": [start + known.STEP * i for i in range(3)], "channel": ["value"] * 3,
                             "flag": [True, True, True]})
    assert_frame_equal(points[["timestamp", "channel", "flag"]], expected, check_dtype=False)
    assert points["score"].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert lake.series_points(data, "machine_temp", [], start, start + known.STEP).empty


def test_check_series_names_what_is_missing(data):
    catalog = lake.series_catalog(data)
    assert lake.check_series(catalog, "pump") == ["flow", "pressure"]
    assert lake.check_series(catalog, "pump", ["flow"]) == ["flow"]
    with pytest.raises(NoSuchSeries, match=r"no such series: series 'nope' is not in gold\.anomaly_scores"):
        lake.check_series(catalog, "nope")
    with pytest.raises(NoSuchSeries, match=r"series 'pump' channel 'speed'.*its channels are"):
        lake.check_series(catalog, "pump", ["speed"])


def test_event_contributions_of_the_spike(data):
    event = lake.events(data, series_id="machine_temp").query("start == @known.SPIKE.start").iloc[0]
    contributions, base = lake.event_contributions(data, event)
    assert_frame_equal(contributions, pd.DataFrame(list(known.SPIKE.top_inputs), columns=["input", "shap"]))
    assert base == pytest.approx(0.1)


def test_event_filters(data):
    assert len(lake.events(data)) == len(known.EVENTS)
    assert lake.events(data, open_only=True)["series_id"].tolist() == ["pump"]
    assert lake.events(data, min_score=0.95).empty
    day = known.START + timedelta(days=1)
    assert lake.events(data, start=day, end=day + timedelta(days=1))["start"].tolist() == [known.SPIKE.start]


def test_published_scoreboard_errors_name_the_file(tmp_path):
    corpus = tmp_path / "nab"
    (corpus / "results").mkdir(parents=True)
    config = make_config(tmp_path / "lake", f"tuning.corpus={corpus}")
    assert lake.published_scores(config) == {}
    (corpus / "results" / "final_results.json").write_text("{not json")
    with pytest.raises(LakewatchError, match=r"final_results\.json: not a NAB scoreboard"):
        lake.published_scores(config)


def test_no_mlflow_store_is_read_or_created(tmp_path):
    config = make_config(tmp_path / "lake")
    store = mlflow_store(config)
    assert store.uri is None and store.where == str(config.lakehouse.mlflow_db)
    assert recent_runs(store).empty and champion(store) is None
    assert not config.lakehouse.mlflow.exists()
    other = mlflow_store(make_config(tmp_path / "lake", f"mlflow.tracking_uri=sqlite:///{tmp_path}/none.db"))
    assert other.uri is None and not (tmp_path / "none.db").exists()


def test_event_key_names_events_as_sql_does(data):
    from lakewatch.event_ids import event_id_sql

    found = lake.events(data)
    ids = data.query(f'SELECT {event_id_sql()} AS event_id FROM {{a}} ORDER BY "start" DESC, series_id, channel',
                     a="gold_anomalies")["event_id"].tolist()
    assert [lake.event_key(row)["event_id"] for _, row in found.iterrows()] == ids
    spike = lake.event_key(found[found["start"] == known.SPIKE.start].iloc[0])
    assert (spike["start"], spike["peak_score"], spike["threshold"]) == (known.SPIKE.start, 0.9, known.THRESHOLD)


def test_drift_summary_per_series_and_channel(data):
    summary = lake.drift_summary(data).drop(columns=["latest_window_end", "latest_reason"])
    assert_frame_equal(summary, pd.DataFrame({
        "series_id": ["machine_temp", "pump", "cpu_util", "pump", "pump"],
        "channel": ["value", "*", "value", "flow", "pressure"], "windows": [5] * 5,
        "drifted_windows": [3, 3, 0, 0, 0], "latest_status": ["compared"] * 5,
        "latest_drifted": [True, True, False, False, False], "open_requests": [0, 1, 0, 0, 0]}), check_dtype=False)
    flow = lake.drift_metrics(data, "pump").query("channel == 'flow'")
    assert flow["status"].tolist()[0] == "too_few_rows" and flow["ks_statistic"].isna().tolist()[0]
    requests = lake.retrain_requests(data, "machine_temp")
    assert requests[["status", "decision"]].values.tolist() == [["done", "kept_champion"]]
