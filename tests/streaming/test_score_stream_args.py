"""jobs/score_stream.py argument checks and settings (no Spark session)."""

from __future__ import annotations

import importlib.util

import pytest

from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import StreamSettings, at_most_every, parse_duration, parse_trigger
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("score_stream_job", REPO / "jobs" / "score_stream.py")
job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(job)


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
    with pytest.raises(ConfigError, match="threshold"):
        StreamSettings(threshold=1.5)
