"""The REST API on a real uvicorn (``./spark-submit.sh api``) over a lakehouse of known rows: reads, filters and
pages, scoring with and without state tokens, feedback, the key of the write endpoints, and bad requests answered
with a 4xx naming the field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from deltalake import DeltaTable

from lakewatch.api.scoring import ScorerCache, ScoreRequestError
from lakewatch.detectors import get_detector
from lakewatch.event_ids import event_id
from lakewatch.jobs.api import parse_args
from tests.api.conftest import API_KEY, CHAMPION
from tests.conftest import make_config
from tests.dashboard.lakehouse import DETECTOR, EVENTS, MODEL_VERSION, SPIKE, START, STEP
from tests.dashboard.server import descendants


def _id(event) -> str:
    return event_id(event.series_id, event.channel, event.start, DETECTOR, MODEL_VERSION)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_health_names_the_tables_and_the_stale_stream(api) -> None:
    with api.client(None) as client:
        before = datetime.now(UTC)
        body = client.get("/health").json()
    newest_scored_at = START + STEP * (3 * 24 * 12 - 1) + timedelta(seconds=30)
    assert body["status"] == "degraded"
    assert body["stream"]["stale"] is True
    assert _ts(body["stream"]["last_scored_at"]) == newest_scored_at
    assert body["stream"]["seconds_since_last_batch"] >= (before - newest_scored_at).total_seconds()
    # gold.feedback exists once a feedback test has run; its absence alone does not degrade the API
    assert {key: t["exists"] for key, t in body["tables"].items() if key != "gold_feedback"} == {
        "silver_readings": True, "gold_anomaly_scores": True, "gold_anomalies": True, "silver_quarantine": True,
        "ops_pipeline_runs": True, "ops_validation_runs": True}
    assert body["tables"]["gold_feedback"]["name"] == api.config.tables.gold_feedback
    assert body["problems"] == [p for p in body["problems"] if "stream" in p]
    assert any("is score_stream running?" in p for p in body["problems"])


def test_anomalies_filters_and_pages(api) -> None:
    newest_first = sorted(EVENTS, key=lambda e: e.start, reverse=True)
    with api.client(None) as client:
        everything = client.get("/anomalies").json()
        assert [i["event_id"] for i in everything["items"]] == [_id(e) for e in newest_first]
        assert (everything["total"], everything["next_offset"]) == (4, None)
        assert everything["items"][0] == {
            "event_id": _id(newest_first[0]), "series_id": "pump", "channel": "pressure",
            "start": newest_first[0].start.isoformat().replace("+00:00", "Z"),
            "end": newest_first[0].end.isoformat().replace("+00:00", "Z"),
            "peak_at": newest_first[0].start.isoformat().replace("+00:00", "Z"), "peak_score": 0.9, "points": 4,
            "threshold": 0.5, "is_open": True, "detector": DETECTOR, "model_version": MODEL_VERSION,
            "updated_at": (newest_first[0].end + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")}

        pages = [client.get("/anomalies", params={"limit": 3, "offset": o}).json() for o in (0, 3)]
        assert [p["next_offset"] for p in pages] == [3, None]
        assert [i["event_id"] for p in pages for i in p["items"]] == [_id(e) for e in newest_first]

        def ids(**params) -> list[str]:
            return [i["event_id"] for i in client.get("/anomalies", params=params).json()["items"]]

        machine = [_id(e) for e in newest_first if e.series_id == "machine_temp"]
        assert ids(series="machine_temp") == machine
        assert ids(open="true") == [_id(EVENTS[-1])]
        assert ids(min_score=0.95) == []
        assert ids(min_score=0.9) == [_id(e) for e in newest_first]
        # events overlapping [since, until]: the spike (12:00 .. 12:10) touches 12:10 exactly
        window = {"since": "2026-03-02T12:10:00Z", "until": "2026-03-03T02:00:00"}
        assert ids(**window) == [_id(SPIKE)]
        assert ids(series="pump", channel="flow") == []


def test_an_event_with_its_contributions_and_readings_around(api) -> None:
    with api.client(None) as client:
        body = client.get(f"/anomalies/{_id(SPIKE)}").json()
    assert body["event_id"] == _id(SPIKE)
    assert body["contributions"] == [{"rank": 1, "input": "value[t]", "shap": 2.5},
                                     {"rank": 2, "input": "value[t-1]", "shap": -0.4},
                                     {"rank": 3, "input": "value[t-2]", "shap": 0.1}]
    assert body["base_value"] == 0.1
    stamps = [_ts(r["timestamp"]) for r in body["readings"]]
    assert stamps == [SPIKE.start + STEP * k for k in range(-4, SPIKE.points + 4)]  # api.readings_around=4
    assert [r["in_event"] for r in body["readings"]] == [False] * 4 + [True] * SPIKE.points + [False] * 4
    assert [r["score"] for r in body["readings"] if r["in_event"]] == pytest.approx([0.9, 0.8, 0.7])
    assert all(r["flag"] == r["in_event"] for r in body["readings"])


def test_series_scores_in_a_range(api) -> None:
    params = {"from": "2026-03-01T00:05:00Z", "to": "2026-03-01T00:15:00Z"}
    with api.client(None) as client:
        body = client.get("/series/pump/scores", params=params).json()
        flow = client.get("/series/pump/scores", params={**params, "channel": "flow"}).json()
        capped = client.get("/series/cpu_util/scores").json()
    expected = [(START + STEP * k, ch) for k in (1, 2, 3) for ch in ("flow", "pressure")]
    assert [(_ts(r["timestamp"]), r["channel"]) for r in body["items"]] == expected
    assert [(_ts(r["timestamp"]), r["channel"]) for r in flow["items"]] == [e for e in expected if e[1] == "flow"]
    assert body["truncated"] is False
    assert (len(capped["items"]), capped["truncated"]) == (100, True)  # api.max_points=100


def _readings(n: int, series: str | None = "s1", start: datetime = START) -> list[dict]:
    rng = np.random.default_rng(7)
    values = 10 + rng.normal(0, 1, n)
    values[n // 2] += 25
    return [{**({"series_id": series} if series else {}), "timestamp": (start + STEP * i).isoformat(),
             "value": float(v)} for i, v in enumerate(values)]


def test_score_is_the_default_detectors_causal_score(api) -> None:
    readings = _readings(60)
    shuffled = readings[:]
    random.Random(3).shuffle(shuffled)
    with api.client() as client:
        answer = client.post("/score", json={"readings": shuffled})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    detector = get_detector("default", catalog=api.config.detectors)
    stamps = np.array([np.datetime64(r["timestamp"][:19], "ns") for r in readings]).astype(np.int64)
    expected = detector.score_series(np.array([r["value"] for r in readings]), stamps)
    assert [s["timestamp"] for s in body["scores"]] == [r["timestamp"].replace("+00:00", "Z") for r in readings]
    assert [shuffled[s["index"]]["timestamp"] for s in body["scores"]] == [r["timestamp"] for r in readings]
    assert [s["score"] for s in body["scores"]] == pytest.approx(expected.tolist())
    assert body["detector"] == api.config.detectors.default
    assert body["model_version"] == f"{detector.name}@{detector.fingerprint}"
    assert [s["flag"] for s in body["scores"]] == [bool(x >= body["threshold"]) for x in expected]
    assert body["state_token"] is None


def test_a_state_token_continues_a_series_and_a_tampered_one_is_refused(api) -> None:
    readings = _readings(50, series=None)
    with api.client() as client:
        whole = client.post("/score", json={"series_id": "s2", "readings": readings}).json()
        first = client.post("/score", json={"series_id": "s2", "readings": readings[:20]}).json()
        second = client.post("/score", json={"series_id": "s2", "readings": readings[20:],
                                             "state_token": first["state_token"]}).json()
        token = first["state_token"]
        tampered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
        refused = client.post("/score", json={"series_id": "s2", "readings": readings[20:], "state_token": tampered})
        other = client.post("/score", json={"series_id": "s3", "readings": readings[20:], "state_token": token})
        older = client.post("/score", json={"series_id": "s2", "readings": readings[5:8], "state_token": token})
    assert [s["score"] for s in first["scores"] + second["scores"]] == pytest.approx(
        [s["score"] for s in whole["scores"]])
    assert refused.status_code == 400 and refused.json()["field"] == "state_token"
    assert "signature" in refused.json()["detail"]
    assert other.status_code == 400 and "'s2', not 's3'" in other.json()["detail"]
    assert older.status_code == 422 and older.json()["field"] == "readings[0].timestamp"


def test_score_with_the_registry_champion(api) -> None:
    readings = _readings(40)
    with api.client() as client:
        answer = client.post("/score", json={"readings": readings, "model": "champion"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    champion = get_detector(*CHAMPION, catalog=api.config.detectors)
    stamps = np.array([np.datetime64(r["timestamp"][:19], "ns") for r in readings]).astype(np.int64)
    expected = champion.score_series(np.array([r["value"] for r in readings]), stamps)
    assert (body["detector"], body["model_version"]) == ("lakewatch_nab", "lakewatch-detector/1")
    assert [s["score"] for s in body["scores"]] == pytest.approx(expected.tolist())
    default = get_detector("default", catalog=api.config.detectors)
    assert champion.fingerprint != default.fingerprint  # so the scores above are the champion's own


def test_without_an_mlflow_store_the_champion_is_a_503_naming_the_model(tmp_path) -> None:
    config = make_config(tmp_path / "lake")
    with pytest.raises(ScoreRequestError) as refused:
        ScorerCache(config).get("champion")
    assert (refused.value.status, refused.value.field) == (503, "model")
    assert "no MLflow store" in str(refused.value)
    assert not config.lakehouse.mlflow_db.exists()  # the API never creates a store


def test_feedback_is_appended_to_gold_feedback(api) -> None:
    with api.client() as client:
        first = client.post("/feedback", json={"event_id": _id(SPIKE), "label": "false_positive",
                                               "note": "planned maintenance"}, headers={"X-Reviewer": "ana"})
        second = client.post("/feedback", json={"event_id": _id(SPIKE), "is_true_positive": True,
                                                "reviewer": "bo"})
    assert (first.status_code, second.status_code) == (201, 201), first.text
    rows = DeltaTable(api.config.lakehouse.table(api.config.tables.gold_feedback)).to_pyarrow_table().to_pylist()
    mine = sorted((r for r in rows if r["feedback_id"] in (first.json()["feedback_id"], second.json()["feedback_id"])),
                  key=lambda r: r["created_at"])
    assert [(r["event_id"], r["series_id"], r["channel"], r["event_start"], r["detector"], r["model_version"],
             r["label"], r["is_true_positive"], r["note"], r["reviewer"], r["source"]) for r in mine] == [
        (_id(SPIKE), "machine_temp", "value", SPIKE.start, DETECTOR, MODEL_VERSION, "false_positive", False,
         "planned maintenance", "ana", "api"),
        (_id(SPIKE), "machine_temp", "value", SPIKE.start, DETECTOR, MODEL_VERSION, "true_positive", True, None, "bo",
         "api")]


BAD_REQUESTS = [
    # (method, path, body, key, status, field, words in the detail)
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "yesterday", "value": 1}]}, API_KEY, 422,
     "readings[0].timestamp", "datetime"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1},
                                     {"series_id": "s", "timestamp": "2026-03-01T00:05:00Z", "value": "abc"}]},
     API_KEY, 422, "readings[1].value", "number"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": True}]},
     API_KEY, 422, "readings[0].value", "number"),
    ("post", "/score", {"readings": [{"timestamp": "2026-03-01T00:00:00Z", "value": 1}]}, API_KEY, 422, "body",
     "readings[0].series_id is missing"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1}],
                        "model": "no_such_detector"}, API_KEY, 422, "model", "unknown model"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1}]}, None,
     401, "X-API-Key", "needs the API key"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1}]},
     "wrong-key", 403, "X-API-Key", "does not match"),
    ("post", "/score", {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1.0}] * 2000},
     API_KEY, 413, "body", "the limit is 65536 bytes"),
    ("post", "/feedback", {"event_id": "0123456789abcdef", "label": "true_positive"}, API_KEY, 404, "event_id",
     "no anomaly event"),
    ("post", "/feedback", {"event_id": "not-an-id", "label": "true_positive"}, API_KEY, 422, "event_id", "pattern"),
    ("post", "/feedback", {"event_id": _id(SPIKE)}, API_KEY, 422, "body", "label is missing"),
    ("post", "/feedback", {"event_id": _id(SPIKE), "label": "true_positive"}, None, 401, "X-API-Key", "API key"),
    ("get", "/series/no_such_series/scores", None, None, 404, "series_id", "no_such_series"),
    ("get", "/series/pump/scores?channel=nope", None, None, 404, "channel", "nope"),
    ("get", "/series/pump/scores?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", None, None, 422, "query.from",
     "after"),
    ("get", "/anomalies?series=no_such_series", None, None, 404, "series_id", "no_such_series"),
    ("get", "/anomalies?since=last-tuesday", None, None, 422, "query.since", "datetime"),
    ("get", "/anomalies?min_score=high", None, None, 422, "query.min_score", "number"),
    ("get", "/anomalies?limit=5000", None, None, 422, "query.limit", "max_page_size"),
    ("get", "/anomalies/0123456789abcdef", None, None, 404, "event_id", "0123456789abcdef"),
    ("get", "/anomalies/xyz", None, None, 422, "path.event_id", "pattern"),
]


@pytest.mark.parametrize(("method", "path", "body", "key", "status", "field", "words"), BAD_REQUESTS,
                         ids=[f"{m} {p} {s} {f}" for m, p, _, _, s, f, _ in BAD_REQUESTS])
def test_bad_requests_get_a_4xx_naming_the_field(api, method, path, body, key, status, field, words) -> None:
    with api.client(key) as client:
        answer = client.request(method.upper(), path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["field"] == field
    assert words in answer.json()["detail"]


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(api) -> None:
    def chunks():
        yield b'{"readings": ['
        for _ in range(2000):
            yield b'{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1.0},'
        yield b'{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1.0}]}'

    with api.client() as client:
        answer = client.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert answer.json() == {"detail": "request body is over the limit of 65536 bytes (api.max_body_bytes)",
                             "field": "body"}


def test_the_openapi_page_lists_every_endpoint(api) -> None:
    with api.client(None) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert {"/health", "/anomalies", "/anomalies/{event_id}", "/series/{series_id}/scores", "/score", "/feedback",
            "/metrics"} <= set(spec["paths"])
    assert "X-API-Key" in str(spec["components"]["securitySchemes"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_the_server_binds_loopback_and_starts_no_jvm(api) -> None:
    assert api.url.startswith("http://127.0.0.1:")
    assert "127.0.0.1" in api.log.read_text()
    assert not [cmd for _, cmd in descendants(api.process.pid) if "java" in cmd]
    assert "java" not in (Path("/proc") / str(api.process.pid) / "cmdline").read_text()


def test_usage_errors_name_the_option(capsys) -> None:
    for argv, words in ((["--port", "0"], "--port 0"), (["--set", "api.page_size=0"], "api.page_size"),
                        (["--set", "api.key_env=not a name"], "api.key_env")):
        with pytest.raises(SystemExit) as exited:
            parse_args(argv)
        assert exited.value.code == 2
        assert words in capsys.readouterr().err
