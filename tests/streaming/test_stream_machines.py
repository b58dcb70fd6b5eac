"""Multichannel entities (machines) in the score stream: one state per machine keyed (series_id, '*'), scored by
the multichannel default detector over rows aligned by timestamp, explained over its sensors; bad input quarantined.
The machines are readings of the `machines` source, machines by default (no streaming.entities.series)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from lakewatch.detectors import get_detector
from lakewatch.errors import ConfigError
from lakewatch.evaluation.entities import align
from lakewatch.progress import Progress
from lakewatch.sources.machines import MachineSpec, generate_machine
from lakewatch.streaming.entities import NEVER_ALIGNED, NON_FINITE, UNKNOWN_CHANNEL
from lakewatch.streaming.job import entity_scorer, run_score_stream
from lakewatch.streaming.settings import StreamSettings
from tests.conftest import make_config
from tests.streaming.harness import append_silver, batch_scores, make_readings

SENSORS = ["s0", "s1", "s2", "s3"]
ROWS = 1350  # the healthy start (1000 rows), then the first fault (rows 1075..1224) and a healthy gap
SPEC = MachineSpec(channels=4, healthy_rows=1000, fault_rows=(150, 150), gap_rows=(150, 150))
UNIVARIATE = "robust_zscore"


def _machine_rows(index: int) -> tuple[pd.DataFrame, object]:
    m = generate_machine(2, index, SPEC)
    frame = pd.DataFrame({"series_id": m.entity_id, "channel": np.repeat(SENSORS, ROWS),
                          "timestamp": pd.to_datetime(np.tile(m.timestamps[:ROWS], 4)),
                          "value": m.values[:ROWS].T.ravel(), "source": f"machines://seed=2/{m.entity_id}"})
    return frame, m


def _settings(tmp_path) -> StreamSettings:
    # No streaming.entities.series: readings of the machines source are machines by default (entity_sources).
    return StreamSettings(trigger="availableNow", detector=UNIVARIATE, threshold=0.9, state_partitions=2,
                          checkpoint=str(tmp_path / "ckpt"), explain={"enabled": True, "top_k": 2},
                          entities={"wait": "1 hour"})


@pytest.fixture(scope="module")
def streamed(spark, tmp_path_factory):
    """Three machines (4 sensors, one fault each), a machine whose channels never align, bad readings and a
    univariate series, streamed in two commits split inside a row, with a restart between."""
    tmp_path = tmp_path_factory.mktemp("machines")
    config = make_config(tmp_path / "lake", f"machines.channels={len(SENSORS)}")
    machines = [_machine_rows(i) for i in range(3)]
    readings = pd.concat([frame for frame, _ in machines], ignore_index=True)
    bad = readings[readings["series_id"] == machines[0][1].entity_id].iloc[[100, 900]].copy()
    bad["channel"] = "s9"  # a channel the configuration does not list
    nan = readings[(readings["series_id"] == machines[0][1].entity_id) & (readings["channel"] == "s1")].iloc[[500]]
    readings.loc[nan.index, "value"] = np.nan  # that row is scored without s1
    second = machines[1][0]
    apart = second[second["timestamp"] < second["timestamp"].min() + pd.Timedelta(hours=16)].copy()
    # s0 and s1 on the five-minute grid, s2 and s3 2.5 minutes later: no instant has all four
    apart["series_id"], apart["source"] = "machine-apart", "machines://seed=2/machine-apart"
    apart.loc[apart["channel"].isin(["s2", "s3"]), "timestamp"] += pd.Timedelta(seconds=150)
    pump = make_readings(series=1, points=300).assign(series_id="pump-1", source="test")
    nan_row = readings.loc[nan.index]  # appended on its own: Arrow turns NaN into null, which silver refuses
    everything = pd.concat([readings.drop(index=nan.index), bad, apart, pump], ignore_index=True).sort_values(
        ["timestamp", "channel"], kind="stable")
    cut = int(len(everything) * 0.55) + 1  # inside a row: some sensors of that instant in each commit
    settings = _settings(tmp_path)
    reports = []
    log = io.StringIO()
    for i, part in enumerate((everything.iloc[:cut], everything.iloc[cut:])):
        append_silver(spark, config, part)
        if i == 0:
            append_silver(spark, config, nan_row)
        reports.append(run_score_stream(spark, config, settings, Progress("test-machines", stream=log)))
    scores = spark.table(config.tables.gold_anomaly_scores).toPandas()
    events = spark.table(config.tables.gold_anomalies).toPandas()
    quarantine = spark.table(config.tables.silver_quarantine).toPandas()
    return {"config": config, "machines": machines, "readings": readings, "pump": pump, "reports": reports,
            "scores": scores, "events": events, "quarantine": quarantine, "log": log.getvalue()}


def test_each_machine_is_scored_once_per_instant_as_the_batch_scores_its_aligned_rows(streamed):
    scores, reports = streamed["scores"], streamed["reports"]
    detector = get_detector("lakewatch_machine", channels=4)
    for _, m in streamed["machines"]:
        got = scores[scores["series_id"] == m.entity_id].sort_values("timestamp")
        assert set(got["channel"]) == {"*"} and got["value"].isna().all()
        assert not got["timestamp"].duplicated().any() and len(got) == ROWS
        readings = streamed["readings"]
        mine = readings[readings["series_id"] == m.entity_id]
        micros, wide = align(pd.DataFrame({"channel": mine["channel"], "value": mine["value"],
                                           "micros": mine["timestamp"].astype("int64") // 1000}), SENSORS)
        expected = detector.score_series(wide, micros * 1000)
        np.testing.assert_array_equal(got["timestamp"].astype("int64").to_numpy() // 1000, micros)
        np.testing.assert_allclose(got["score"].to_numpy(), expected, rtol=0, atol=1e-12)
        assert (got["flag"] == (got["score"] >= 0.5)).all()
        assert set(got["detector"]) == {"lakewatch_machine"}
        assert set(got["model_version"]) == {f"lakewatch_machine@{detector.fingerprint}"}
    assert reports[0].scored > 0 and reports[1].scored > 0  # the restart went on where the first run stopped
    assert set(scores["batch_id"]) == {0, 1}


def test_the_fault_is_flagged_while_it_lasts_and_its_event_names_a_faulted_sensor(streamed):
    scores, events = streamed["scores"], streamed["events"]
    for _, m in streamed["machines"]:
        seg = m.segments[0]
        start, end = pd.Timestamp(m.timestamps[seg.start]), pd.Timestamp(m.timestamps[seg.end - 1])
        mine = scores[scores["series_id"] == m.entity_id]
        inside = mine[(mine["timestamp"] >= start) & (mine["timestamp"] <= end)]
        assert inside["flag"].mean() > 0.5, f"{m.entity_id} {seg.kind}: fault rows mostly unflagged"  # hold
        assert mine[mine["timestamp"] < start]["flag"].mean() < 0.05
        theirs = events[(events["series_id"] == m.entity_id) & (events["end"] >= start) & (events["start"] <= end)]
        assert set(theirs["channel"]) == {"*"}
        biggest = theirs.sort_values("points").iloc[-1]
        assert biggest["points"] >= 50 and not biggest["is_open"]
        named = [c["input"] for c in biggest["top_inputs"]]
        assert named[0] in {SENSORS[c] for c in seg.channels}, (seg, named)


def test_a_univariate_series_in_the_same_stream_is_scored_as_before(streamed):
    scores, pump = streamed["scores"], streamed["pump"]
    got = scores[scores["series_id"] == "pump-1"].sort_values("timestamp").reset_index(drop=True)
    expected = batch_scores(pump, get_detector(UNIVARIATE))
    assert set(got["channel"]) == {"value"} and set(got["detector"]) == {UNIVARIATE}
    np.testing.assert_allclose(got["score"].to_numpy(), expected["score"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["value"].to_numpy(), pump["value"].to_numpy())


def test_bad_readings_of_machines_go_to_quarantine_with_their_reason(streamed):
    quarantine, scores = streamed["quarantine"], streamed["scores"]
    first = streamed["machines"][0][1].entity_id
    unknown = quarantine[quarantine["reason"] == UNKNOWN_CHANNEL]
    assert set(unknown["series_id"]) == {first} and set(unknown["channel"]) == {"s9"} and len(unknown) == 2
    assert "not one of entity" in json.loads(unknown["raw_record"].iloc[0])["problem"]
    non_finite = quarantine[quarantine["reason"] == NON_FINITE]
    assert len(non_finite) == 1 and non_finite["channel"].item() == "s1"
    apart = quarantine[quarantine["series_id"] == "machine-apart"]
    assert set(apart["reason"]) == {NEVER_ALIGNED} and len(apart) >= 4 * 180  # all but its last hour
    assert "channels never align" in json.loads(apart["raw_record"].iloc[0])["problem"]
    assert not (scores["series_id"] == "machine-apart").any()
    assert set(quarantine["stage"]) == {"stream"}
    # the runs' reports (and each batch's line) count them by reason
    counted: dict[str, int] = {}
    for report in streamed["reports"]:
        for reason, n in report.quarantined.items():
            counted[reason] = counted.get(reason, 0) + n
    assert counted == quarantine["reason"].value_counts().to_dict()
    for reason in (UNKNOWN_CHANNEL, NON_FINITE, NEVER_ALIGNED):
        assert sum(int(n.replace(",", "")) for n in re.findall(rf"{reason} ([\d,]+)", streamed["log"])) == \
            counted[reason]


def test_the_stream_says_which_series_are_machines_and_why(streamed):
    assert "every series of source machines (4 channels s0, s1, s2, s3; machines.channels)" in streamed["log"]


def test_entity_settings_are_checked(lake):
    with pytest.raises(ConfigError, match=r"streaming.entities.series.m\*"):
        StreamSettings(entities={"series": {"m*": ["only-one"]}})
    with pytest.raises(ConfigError, match=r"streaming\.entities: unknown keys"):
        StreamSettings(entities={"channels": ["a", "b"]})
    settings = StreamSettings(entities={"series": {"m*": ["a", "b"]}, "detector": UNIVARIATE})
    with pytest.raises(ConfigError, match="univariate"):
        entity_scorer(lake, settings, Progress("test"))
    assert entity_scorer(lake, StreamSettings(), Progress("test")) is None
