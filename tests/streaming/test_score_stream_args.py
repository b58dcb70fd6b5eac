"""The score_stream job's argument checks and settings (no Spark session)."""

from __future__ import annotations

import pytest

from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from lakewatch.jobs import score_stream as job
from lakewatch.streaming.settings import StreamSettings, at_most_every, parse_duration, parse_trigger, stream_settings


def test_options_override_the_config():
    _, _, settings = job.parse_args(["--trigger", "availableNow", "--detector", "knn", "--threshold", "0.7"])
    assert (settings.trigger, settings.detector, settings.threshold, settings.model) == ("availableNow", "knn", 0.7, "")
    _, _, kafka = job.parse_args(["--source", "kafka", "--bootstrap", "h:1", "--topic", "t",
                                  "--model", "models:/m@champion"])
    assert kafka.source == "kafka" and dict(kafka.kafka) == {"bootstrap_servers": "h:1", "topic": "t"}
    assert kafka.model == "models:/m@champion" and kafka.detector == ""


@pytest.mark.parametrize("argv, message", [
    (["--trigger", "every5"], "processingTime=<interval>"),
    (["--detector", "nope"], "expected one of"),
    (["--source", "kafka"], "--bootstrap"),
    (["--detector", "knn", "--model", "models:/m@champion"], "not both"),
])
def test_bad_arguments_are_usage_errors_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_trigger_and_duration_parsing():
    assert parse_trigger("availableNow") == {"availableNow": True}
    assert parse_trigger("processingTime=1.5 minutes") == {"processingTime": "90000 milliseconds"}
    # The malformed-message query's trigger: lengthened to the floor, never shortened; availableNow kept.
    assert at_most_every("processingTime=1 second", 30.0) == {"processingTime": "30000 milliseconds"}
    assert at_most_every("processingTime=2 minutes", 30.0) == {"processingTime": "120000 milliseconds"}
    assert at_most_every("processingTime=5 seconds", 0.0) == {"processingTime": "5000 milliseconds"}
    assert at_most_every("availableNow", 30.0) == {"availableNow": True}
    with pytest.raises(ConfigError, match="trigger"):
        at_most_every("every5", 30.0)
    assert parse_duration("0") == 0.0 and parse_duration("2h") == 7200.0
    with pytest.raises(ConfigError, match=r"streaming\.watermark"):
        StreamSettings(watermark="soon")
    with pytest.raises(ConfigError, match=r"streaming\.threshold=1\.5: expected less than or equal to 1"):
        StreamSettings().with_overrides(threshold=1.5)
    with pytest.raises(ConfigError, match=r"streaming\.state_partitions=0: expected greater than 0"):
        StreamSettings().with_overrides(state_partitions=0)


def test_the_flag_threshold_is_the_detectors_unless_set():
    config = load_config("local")
    settings = stream_settings(config)
    assert settings.threshold is None
    assert settings.flag_threshold(config, "lakewatch_nab") == 0.5034722222222222
    assert settings.with_overrides(threshold=0.7).flag_threshold(config, "knn") == 0.7
    with pytest.raises(ConfigError, match="detector 'knn' has no calibrated threshold"):
        settings.flag_threshold(config, "knn")
    tuned = load_config("local", ["detectors.knn.threshold=0.8"])
    assert stream_settings(tuned).flag_threshold(tuned, "knn") == 0.8


def test_a_detector_without_threshold_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.parse_args(["--detector", "knn"])
    assert exit_info.value.code == 2 and "no calibrated threshold" in capsys.readouterr().err
