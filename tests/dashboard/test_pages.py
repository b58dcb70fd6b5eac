"""Every dashboard page through Streamlit's app harness (AppTest), on a lakehouse with known anomalies and on an
empty one: what each page shows, its charts' data, and no exception anywhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema
from streamlit.testing.v1 import AppTest

from lakewatch.dashboard import data as lake
from lakewatch.dashboard.settings import OPTIONS_ENV, app_path, encode_options
from lakewatch.event_ids import event_id
from lakewatch.schemas import GOLD_DRIFT_METRICS
from tests.dashboard import lakehouse as known
from tests.dashboard.conftest import job_options

PAGES = ("overview", "series_explorer", "anomaly_review", "data_quality", "drift", "models")


def open_page(config, page: str, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    """Run the app on `config`'s lakehouse and switch to `page` (a module of lakewatch/dashboard/app_pages)."""
    monkeypatch.setenv(OPTIONS_ENV, encode_options(job_options(config), 60))
    app = AppTest.from_file(str(app_path()), default_timeout=60)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    if page != "overview":
        app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    # Nothing drawn by Streamlit's "magic" (a bare expression's value, e.g. a stray True).
    assert not [e.value for e in app.get("markdown") if str(e.value).strip("` ") in ("True", "False", "None")]
    assert not app.get("code") and not app.get("json")
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def figures(app: AppTest) -> list[dict]:
    """The plotly figures the page drew, as JSON with plotly's typed arrays ({dtype, bdata}) decoded to lists."""
    return [_decoded(json.loads(chart.proto.spec)) for chart in app.get("plotly_chart")]


def _decoded(value):
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return array.reshape(value["shape"]).tolist() if "shape" in value else array.tolist()
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def texts(app: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "info", "error", "caption") for e in app.get(kind))


def sql_count(config, query: str, params=()) -> int:
    data = lake.open_data(config)
    try:
        return int(data.query(query, list(params), a="gold_anomalies").iloc[0, 0])
    finally:
        data.reader.close()


def test_overview_counts_events_as_sql_does(known_lake, monkeypatch):
    app = open_page(known_lake, "overview", monkeypatch)
    shown = metrics(app)
    assert shown["Anomaly events"] == str(sql_count(known_lake, "SELECT count(*) FROM {a}")) == "4"
    assert shown["Open events"] == str(sql_count(known_lake, "SELECT count(*) FROM {a} WHERE is_open")) == "1"
    assert shown["Series with events"] == "3"
    assert shown["Scoring lag"] == "0 s"  # every silver reading is scored
    per_day, per_series = figures(app)
    assert per_day["data"][0]["y"] == [1, 1, 2]
    assert per_series["data"][1]["x"] == [0, 0, 1]  # the open event, of pump / pressure
    assert app.dataframe[0].value[["series_id", "channel"]].values.tolist() == [["pump", "pressure"]]
    assert set(app.dataframe[2].value["job"]) == {"pipeline", "validate"}  # last runs


def test_series_explorer_draws_the_known_spike(known_lake, monkeypatch):
    app = open_page(known_lake, "series_explorer", monkeypatch, series="machine_temp")
    assert metrics(app) == {"Points": "864", "Flagged points": "5", "Anomaly events": "2", "Labelled windows": "1"}
    (figure,) = figures(app)
    names = [trace.get("name") for trace in figure["data"]]
    assert {"value", "score", "flagged points", "anomaly event", "labelled window"} <= set(names)
    flagged = figure["data"][names.index("flagged points")]
    assert len(flagged["x"]) == 5 and max(flagged["y"]) > 75  # the spike adds 60 to readings around 25
    shapes = figure["layout"]["shapes"]
    # two event spans and one labelled window, each shaded on both panels (values and score)
    assert sum(1 for s in shapes if s.get("type") == "rect") == 6
    assert any(s.get("type") == "line" and s.get("y0") == pytest.approx(0.5034722222222222) for s in shapes)


def test_series_explorer_narrows_to_channels_and_days(known_lake, monkeypatch):
    app = open_page(known_lake, "series_explorer", monkeypatch, series="pump")
    assert metrics(app)["Points"] == "1,728"
    names = {trace.get("name") for trace in figures(app)[0]["data"]}
    assert {"flow", "flow score", "flow flagged", "pressure", "pressure score", "pressure flagged"} <= names
    app.multiselect(key="channels_pump").set_value(["pressure"]).run()
    app.date_input(key="range_pump").set_value((known.START.date(), known.START.date())).run()
    assert metrics(app) == {"Points": "288", "Flagged points": "0", "Anomaly events": "0", "Labelled windows": "0"}


def test_series_explorer_unknown_series_says_so(known_lake, monkeypatch):
    app = open_page(known_lake, "series_explorer", monkeypatch, series="no-such-series")
    assert len(app.error) == 1 and "No such series: 'no-such-series'" in app.error[0].value
    assert not app.get("plotly_chart")


def test_anomaly_review_filters_and_explains_the_spike(known_lake, monkeypatch):
    app = open_page(known_lake, "anomaly_review", monkeypatch)
    total = sql_count(known_lake, "SELECT count(*) FROM {a}")
    assert f"**{total} events** match" in texts(app)
    assert len(app.dataframe[0].value) == total
    app.radio(key="review_status").set_value("open").run()
    assert "**1 events** match" in texts(app)
    app.radio(key="review_status").set_value("closed").run()
    app.selectbox(key="review_series").set_value("machine_temp").run()
    assert "**2 events** match" in texts(app)
    events = app.dataframe[0].value
    spike = events.index[events["start"] == known.SPIKE.start][0]
    app.selectbox(key="review_event").set_value(spike).run()
    assert metrics(app)["Detector"] == known.DETECTOR and metrics(app)["Model version"] == known.MODEL_VERSION
    assert metrics(app)["Threshold"] == "0.500"
    context, shap = figures(app)
    bars = shap["data"][0]
    assert bars["y"][-1] == "value[t]" and bars["x"][-1] == pytest.approx(2.5)  # the top bar is drawn last
    assert [s for s in context["layout"]["shapes"] if s.get("line", {}).get("width") == 2]  # the event outlined


def feedback_rows(config) -> list[dict]:
    location = config.lakehouse.table(config.tables.gold_feedback)
    if not DeltaTable.is_deltatable(location):
        return []
    return sorted(DeltaTable(location).to_pyarrow_table().to_pylist(), key=lambda r: r["created_at"])


def test_anomaly_review_verdict_buttons_write_gold_feedback(known_lake, monkeypatch):
    before = feedback_rows(known_lake)
    app = open_page(known_lake, "anomaly_review", monkeypatch)
    events = app.dataframe[0].value
    spike = events.index[(events["series_id"] == "machine_temp") & (events["start"] == known.SPIKE.start)][0]
    app.selectbox(key="review_event").set_value(spike).run()
    spike_id = event_id(known.SPIKE.series_id, known.SPIKE.channel, known.SPIKE.start, known.DETECTOR,
                        known.MODEL_VERSION)
    assert f"**Verdict:** none yet on event `{spike_id}`" in texts(app)
    app.text_input(key="verdict_reviewer").input("ana")
    app.text_input(key=f"verdict_note_{spike_id}").input("planned maintenance")
    app.button(key="verdict_fp").click().run()
    assert not app.exception and not app.error
    app.run()  # a rerun (the live refresh) records nothing more
    rows = feedback_rows(known_lake)
    assert len(rows) == len(before) + 1
    row = rows[-1]
    assert {k: row[k] for k in ("event_id", "series_id", "channel", "label", "is_true_positive", "note", "reviewer",
                                "source", "detector", "model_version")} == {
        "event_id": spike_id, "series_id": "machine_temp", "channel": "value", "label": "false_positive",
        "is_true_positive": False, "note": "planned maintenance", "reviewer": "ana", "source": "dashboard",
        "detector": known.DETECTOR, "model_version": known.MODEL_VERSION}
    assert row["event_start"] == known.SPIKE.start and row["threshold"] == known.THRESHOLD
    assert "**Verdict:** :red[false positive] by ana" in texts(app) and "planned maintenance" in texts(app)
    listed = app.dataframe[0].value.set_index("event_id")
    assert listed.loc[spike_id, ["verdict", "verdict_by"]].tolist() == ["false_positive", "ana"]
    assert listed["verdict"].notna().sum() == 1  # the other events have none
    app.button(key="verdict_tp").click().run()
    rows = feedback_rows(known_lake)
    assert len(rows) == len(before) + 2 and rows[-1]["label"] == "true_positive"
    assert rows[-1]["event_id"] == spike_id
    shown = texts(app)
    assert "**Verdict:** :green[true positive] by ana" in shown and "(2 verdicts in all; the newest counts)" in shown


def test_a_verdict_that_cannot_be_written_is_one_clear_error(tmp_path, monkeypatch):
    from lakewatch.api.feedback import feedback_schema
    from tests.conftest import make_config

    config = make_config(tmp_path / "lake")
    known.write_known_lakehouse(config)
    # A gold.feedback whose reviewer column is a number: readable, but no verdict with a reviewer's name fits.
    schema = feedback_schema()
    schema = schema.set(schema.get_field_index("reviewer"), pa.field("reviewer", pa.int64()))
    location = config.lakehouse.table(config.tables.gold_feedback)
    write_deltalake(location, schema.empty_table())
    app = open_page(config, "anomaly_review", monkeypatch)
    app.text_input(key="verdict_reviewer").input("ana")
    app.button(key="verdict_tp").click().run()
    assert not app.exception
    assert len(app.error) == 1
    assert f"The verdict was not recorded in {config.tables.gold_feedback} ({location})" in app.error[0].value
    assert "**Verdict:** none yet" in texts(app) and DeltaTable(location).to_pyarrow_table().num_rows == 0


def test_drift_shows_drifted_series_statistics_and_retrain_decisions(known_lake, monkeypatch):
    app = open_page(known_lake, "drift", monkeypatch)
    assert metrics(app) == {"Series measured": "3", "Drifted now": "2", "Open retrain requests": "1",
                            "Latest window": f"{known.DRIFT_WINDOWS[-1]:%Y-%m-%d %H:%M}"}
    summary = app.dataframe[0].value
    drifted = summary[summary["latest_drifted"].astype(bool)]
    assert set(zip(drifted["series_id"], drifted["channel"], strict=True)) == known.DRIFTED
    assert set(drifted["drifted_windows"]) == {3}
    assert app.selectbox(key="drift_series").value == "machine_temp"  # drifted series first
    (figure,) = figures(app)
    names = [t.get("name") for t in figure["data"]]
    assert names.count("drifted window") == 5  # ks, psi, wasserstein, score shift, flag-rate shift (no MMD)
    ks = figure["data"][names.index("drifted window")]
    assert len(ks["x"]) == 3 and min(ks["y"]) >= 0.2
    lines = {round(s["y0"], 4) for s in figure["layout"]["shapes"] if s.get("type") == "line" and s["y0"] == s["y1"]}
    assert {0.2, 0.5, 0.1, 0.05} <= lines  # thresholds of conf/base.yaml's drift.thresholds
    annotations = [a["text"] for a in figure["layout"]["annotations"]]
    assert "retrain done: kept_champion" in annotations
    requests = app.dataframe[1].value
    assert sorted(zip(requests["series_id"], requests["status"], strict=True)) == [("machine_temp", "done"),
                                                                                   ("pump", "open")]
    app.selectbox(key="drift_series").set_value("pump").run()
    (figure,) = figures(app)
    assert "MMD²" in [a["text"] for a in figure["layout"]["annotations"]]
    assert "retrain open" in [a["text"] for a in figure["layout"]["annotations"]]


def test_drift_unknown_series_says_so(known_lake, monkeypatch):
    app = open_page(known_lake, "drift", monkeypatch, series="no-such-series")
    (error,) = app.error
    assert f"No such series: 'no-such-series' has no row in {known_lake.tables.gold_drift_metrics}" in error.value
    assert not app.get("plotly_chart")


def test_drift_with_an_empty_table_says_how_to_measure(tmp_path, monkeypatch):
    from tests.conftest import make_config

    config = make_config(tmp_path / "lake")
    schema = to_arrow_schema(GOLD_DRIFT_METRICS)
    write_deltalake(config.lakehouse.table(config.tables.gold_drift_metrics), schema.empty_table())
    app = open_page(config, "drift", monkeypatch)
    assert "No drift measured yet: `./spark-submit.sh drift`" in texts(app)
    assert not app.get("plotly_chart") and not app.error


def test_data_quality_shows_runs_and_quarantine_reasons(known_lake, monkeypatch):
    app = open_page(known_lake, "data_quality", monkeypatch)
    assert metrics(app)["Validation runs"] == "1" and metrics(app)["Failed"] == "1"
    (quarantine,) = figures(app)
    by_reason = {t["name"]: sum(t["y"]) for t in quarantine["data"]}
    assert by_reason == known.QUARANTINE_REASONS
    assert "No Data Docs built yet" in texts(app)
    per_run = app.dataframe[1].value
    assert per_run.set_index("run_id").loc["run-1", "quarantined"] == sum(known.QUARANTINE_REASONS.values())


def test_data_quality_links_the_data_docs(known_lake, monkeypatch):
    index = Path(known_lake.lakehouse.gx) / "uncommitted" / "data_docs" / "local_site" / "index.html"
    index.parent.mkdir(parents=True)
    index.write_text("<html>docs</html>")
    try:
        app = open_page(known_lake, "data_quality", monkeypatch)
        assert f"]({index.as_uri()})" in texts(app)
    finally:
        index.unlink()


def test_models_scoreboard_beside_published(known_lake, monkeypatch):
    app = open_page(known_lake, "models", monkeypatch)
    board = app.dataframe[0].value
    published = lake.published_scores(known_lake)
    if not published:
        pytest.skip("the NAB corpus's results/final_results.json is not here")
    assert len(board) == len(published) + 1
    ours = board[board["source"] == "lakewatch"].iloc[0]
    assert ours["detector"] == "lakewatch:lakewatch_nab" and ours["standard"] == pytest.approx(74.96)
    assert board["standard"].is_monotonic_decreasing
    assert "No MLflow store yet" in texts(app)


def test_models_shows_mlflow_runs_and_champion(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from tests.conftest import make_config

    config = make_config(tmp_path / "lake")
    config.lakehouse.mlflow.mkdir(parents=True)
    uri = f"sqlite:///{config.lakehouse.mlflow_db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("lakewatch", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, run_name="train-1", tags={"lakewatch.job": "train",
                                                                  "lakewatch.detector": "cnn_ae"})
    client.log_metric(run.info.run_id, "nab_standard", 61.5)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("lakewatch-detector")
    version = client.create_model_version("lakewatch-detector", str(tmp_path / "model"), run.info.run_id)
    client.set_registered_model_alias("lakewatch-detector", "champion", version.version)
    app = open_page(config, "models", monkeypatch)
    assert metrics(app)["Champion"] == "lakewatch-detector v1"
    runs = app.dataframe[-1].value
    assert runs[["run_name", "job", "detector", "nab_standard"]].values.tolist() == [["train-1", "train", "cnn_ae",
                                                                                      61.5]]
    assert "No lakewatch detector scored yet" in texts(app)


@pytest.mark.parametrize("page", PAGES)
def test_empty_lakehouse_explains_itself(empty_lake, page, monkeypatch):
    app = open_page(empty_lake, page, monkeypatch)
    assert not app.error
    shown = texts(app)
    if page in ("overview", "series_explorer", "anomaly_review"):
        assert "does not exist yet" in shown and "spark-submit.sh score_stream" in shown
    if page == "data_quality":
        assert "No Data Docs built yet" in shown and "does not exist yet" in shown
    if page == "drift":
        assert "does not exist yet" in shown and "spark-submit.sh drift" in shown
    if page == "models":
        assert "No lakewatch detector scored yet" in shown and "No MLflow store yet" in shown
    assert not Path(empty_lake.table_root).exists()  # reading an empty lakehouse creates nothing


def test_bad_dashboard_config_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(OPTIONS_ENV, encode_options(["--env", "no-such-env"]))
    app = AppTest.from_file(str(app_path()), default_timeout=60).run()
    assert not app.exception
    assert "configuration does not load" in app.error[0].value and "no-such-env" in app.error[0].value
