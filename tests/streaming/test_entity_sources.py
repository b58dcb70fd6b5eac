"""Machines by default (lakewatch.streaming.entity_sources): the configured sources that know their channels give
the stream's entity rules, matched on each reading's `source`, and only sources with readings in silver take part."""

from __future__ import annotations

import io

import pandas as pd

from lakewatch.progress import Progress
from lakewatch.streaming.entity_sources import rule_column, source_rules, with_readings
from lakewatch.streaming.job import entity_scorer, machine_sources
from lakewatch.streaming.settings import StreamSettings
from tests.conftest import make_config
from tests.streaming.harness import append_silver

WIDE = "{kind: files, path: %s, timestamp_column: t, channel_columns: [p, q, r]%s}"


def _config(tmp_path, *overrides):
    return make_config(tmp_path / "lake", "machines.channels=4",
                       f"sources.pumps={WIDE % (tmp_path / 'pumps', '')}",
                       f"sources.fans={WIDE % (tmp_path / 'fans', ', entity: false')}", *overrides)


def test_machine_sources_give_rules_on_their_source_and_a_switched_off_one_is_said(spark, tmp_path):
    config = _config(tmp_path)
    rules, skipped = source_rules(spark, config)
    by_name = {r.name: r for r in rules}
    assert set(by_name) == {"machines", "pumps", "skab"}  # nab has one value column; fans is switched off
    assert by_name["machines"].channels == ("s0", "s1", "s2", "s3") and by_name["machines"].prefix == "machines://"
    assert by_name["pumps"].channels == ("p", "q", "r")
    assert by_name["pumps"].prefix == f"file:{tmp_path}/pumps/" and by_name["pumps"].exact == f"file:{tmp_path}/pumps"
    assert skipped == ["source fans: sources.fans.entity is false"]
    off, _ = source_rules(spark, _config(tmp_path, "machines.entity=false"))
    assert "machines" not in {r.name for r in off}

    sources = ["machines://seed=0/machine-0-000", f"file:{tmp_path}/pumps/a/1.csv", f"file:{tmp_path}/pumps",
               f"file:{tmp_path}/pumps2/1.csv", f"file:{tmp_path}/fans/1.csv", "test"]
    frame = spark.createDataFrame(pd.DataFrame({"source": sources}))
    got = [r[0] for r in frame.select(rule_column(rules)).collect()]
    index = {r.name: i for i, r in enumerate(rules)}
    assert got == [index["machines"], index["pumps"], index["pumps"], None, None, None]


def test_only_sources_with_readings_in_silver_take_part_and_the_stream_says_which(spark, tmp_path):
    config = _config(tmp_path)
    rows = pd.DataFrame({"series_id": ["machine-0-000", "p-1"], "channel": ["s0", "value"],
                         "timestamp": pd.to_datetime(["2026-01-01", "2026-01-01"]), "value": [1.0, 2.0],
                         "source": ["machines://seed=0/machine-0-000", "test"]})
    said = io.StringIO()
    progress = Progress("test-sources", stream=said)
    settings = StreamSettings(detector="robust_zscore")
    assert machine_sources(spark, config, settings, progress) == ()  # no silver.readings yet
    append_silver(spark, config, rows)
    rules, _ = source_rules(spark, config)
    assert [r.name for r in with_readings(spark, config.tables.silver_readings, rules)] == ["machines"]
    present = machine_sources(spark, config, settings, progress)
    assert [r.name for r in present] == ["machines"]
    assert "pumps has no readings" in said.getvalue() and "fans.entity is false" in said.getvalue()
    scorer = entity_scorer(config, settings, progress, rules=present)
    assert scorer is not None and scorer.channels_of("machine-0-000", 0) == ("s0", "s1", "s2", "s3")
    assert "every series of source machines (4 channels s0, s1, s2, s3; machines.channels)" in said.getvalue()
    assert machine_sources(spark, config, StreamSettings(source="kafka", kafka={"topic": "t"}), progress) == ()
