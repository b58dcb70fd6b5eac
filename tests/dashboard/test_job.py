"""The dashboard job: its options, and ``./spark-submit.sh dashboard`` serving the app on loopback with no JVM."""

from __future__ import annotations

import urllib.request

import pytest

from lakewatch.dashboard.settings import encode_options, load_settings
from lakewatch.jobs import dashboard as job
from tests.dashboard import server


def test_options_pass_the_lakehouse_to_the_app(known_lake):
    args, options = job.parse_args(["--table-root", known_lake.table_root, "--set", "tables.gold_anomalies=x.y",
                                    "--port", "8600"])
    command = job.streamlit_command(args)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("lakewatch/dashboard/app.py")
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.port"] == "8600" and flags["--server.address"] == "127.0.0.1"
    assert flags["--browser.gatherUsageStats"] == "false" and flags["--server.headless"] == "true"
    settings = load_settings(encode_options(options, args.refresh))
    assert settings.config.table_root == known_lake.table_root and settings.config.tables.gold_anomalies == "x.y"
    assert settings.refresh == 15


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "70000"], "--port 70000: expected a port number from 1 to 65535"),
    (["--refresh", "0"], "--refresh 0: expected at least 1 second"),
    (["--env", "nowhere"], "environment 'nowhere'"),
])
def test_bad_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        job.parse_args(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_launcher_serves_the_app_on_loopback_without_a_jvm(known_lake, tmp_path):
    process, url = server.start(known_lake, tmp_path / "dashboard.log")
    try:
        # The launcher exec'd the job, which exec'd Streamlit: one Python process, no spark-submit, no java below it.
        command = server.cmdline(process.pid)
        assert command[1:4] == ["-m", "streamlit", "run"], command
        assert not [c for _, c in server.descendants(process.pid) if "java" in c]
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and b"<title>Streamlit</title>" in page.read()
        assert url.startswith("http://127.0.0.1:")
    finally:
        server.stop(process)
    assert process.returncode is not None
