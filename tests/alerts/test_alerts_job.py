"""The alerts job refuses bad arguments and configuration in one line, before Spark starts."""

from __future__ import annotations

import pytest

from lakewatch.jobs import alerts

RULES = ["--set", "alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:9/'}}",
         "--set", "alerts.rules=[{name: r, channels: hook}]"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--trigger", "sometimes", *RULES], "--trigger: trigger='sometimes': expected 'processingTime=<interval>'"),
    ([], "alerts.rules is empty"),
    (["--set", "alerts.rules=[{name: r, channels: [pager]}]"], "alerts.rules.r.channels: unknown ['pager']"),
])
def test_bad_arguments_are_one_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        alerts.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_good_arguments_give_the_settings_and_the_trigger():
    _, config, settings, trigger = alerts.parse_args(["--trigger", "availableNow", *RULES])
    assert trigger == "availableNow" and [r.name for r in settings.rules] == ["r"]
    assert config.tables.ops_alerts == "ops.alerts"
    assert alerts.parse_args(RULES)[3] == "processingTime=30 seconds"  # alerts.trigger in conf/base.yaml
