"""spark-submit.sh: its list of Spark options that take a value matches `spark-submit --help`, and it gives each
job the Derby home of the job's own lakehouse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyspark

from lakewatch.config import project_root

LAUNCHER = project_root() / "spark-submit.sh"
SPARK_HOME = Path(pyspark.__file__).parent

# `spark-submit --help` prints no value name after these, yet each takes one (`spark-submit --packages
# --version` stops with "Missing application resource": --version was taken as the value)...
VALUE_WITHOUT_METAVAR = {"--packages", "--exclude-packages", "--repositories", "--driver-java-options",
                         "--driver-library-path", "--driver-class-path"}
# ... and these are switches (`spark-submit --supervise --version` prints the version).
SWITCHES = {"--help", "-h", "--verbose", "-v", "--version", "--load-spark-defaults", "--supervise"}

# An option line: `  --conf, -c PROP=VALUE    text`, `  --packages    text`, `  --version,    text`.
OPTION_LINE = re.compile(r"^\s+(?P<name>--[a-z][\w-]*)(?:,\s*(?P<alias>-\w))?,?(?:\s(?P<metavar>[A-Z][A-Z_=]*))?"
                         r"(?=\s{2,}|\s*$)")


def _launcher(script: str, **env: str) -> str:
    """Stdout of `script` run by bash after sourcing spark-submit.sh (which then defines, but runs nothing)."""
    environ = {**os.environ, "LAKEWATCH_VENV": sys.prefix, "LAKEWATCH_HOME": str(project_root()),
               "PYTHONPATH": str(project_root() / "lib"), **env}
    for name in ("LAKEWATCH_DERBY_HOME", "LAKEWATCH_TABLE_ROOT", "LAKEWATCH_ENV"):
        if name not in env:
            environ.pop(name, None)
    done = subprocess.run(["bash", "-c", f'source "$1"; {script}', "bash", str(LAUNCHER)], env=environ,
                          capture_output=True, text=True, check=True)
    return done.stdout


def _help_options() -> tuple[set[str], set[str]]:
    """Options `spark-submit --help` lists with a value name after them, and those it lists without one."""
    done = subprocess.run([str(SPARK_HOME / "bin" / "spark-submit"), "--help"], env={**os.environ,
                          "SPARK_HOME": str(SPARK_HOME)}, capture_output=True, text=True, check=True)
    with_value, bare = set(), set()
    for line in (done.stdout + done.stderr).splitlines():
        match = OPTION_LINE.match(line)
        if match:
            names = {match["name"], *([match["alias"]] if match["alias"] else [])}
            (with_value if match["metavar"] else bare).update(names)
    return with_value, bare


def test_the_launcher_knows_every_spark_option_that_takes_a_value() -> None:
    with_value, bare = _help_options()
    assert {"--master", "--conf", "-c", "--driver-cores", "--proxy-user"} <= with_value, with_value
    # a new option without a value name must be sorted into one of the two sets above by hand
    assert bare == VALUE_WITHOUT_METAVAR | SWITCHES, bare ^ (VALUE_WITHOUT_METAVAR | SWITCHES)
    listed = _launcher('printf "%s\\n" $SPARK_VALUE_OPTS').split()
    assert len(listed) == len(set(listed)), "an option is listed twice"
    assert set(listed) == with_value | VALUE_WITHOUT_METAVAR


def test_the_launcher_asks_layout_for_the_jobs_derby_home(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert _launcher(f'derby_home --set synthetic.series=2 --table-root "{lake}" --help') == f"{lake}\n"
    assert _launcher("derby_home", LAKEWATCH_TABLE_ROOT=str(lake)) == f"{lake}\n"
    assert _launcher("derby_home") == f"{project_root() / 'delta_tables'}\n"
    assert _launcher(f'derby_home --table-root "{lake}"', LAKEWATCH_DERBY_HOME="/elsewhere") == "/elsewhere\n"
    assert _launcher("derby_home --env nope") == ""  # the job reports the bad --env itself


def test_run_job_passes_the_derby_home_of_the_jobs_own_options() -> None:
    text = LAUNCHER.read_text()
    run_job = text[text.index("run_job() {"):text.index("\nmain() {")]
    assert 'derby=$(derby_home ${job_args[@]+"${job_args[@]}"})' in run_job
    assert '"${derby:+-Dderby.system.home=$derby }' in run_job
    assert "delta_tables" not in run_job



def test_local_jobs_get_a_heap_sized_from_the_machine_unless_one_is_given() -> None:
    total_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
    assert _launcher("default_driver_memory") == f"{max(1, total_kib // 1048576 // 3)}g\n"
    assert _launcher("is_local_master --name x --master 'local[*]' && echo local") == "local\n"
    assert _launcher("is_local_master --master spark://h:7077 || echo cluster") == "cluster\n"
    text = LAUNCHER.read_text()
    run_job = text[text.index("run_job() {"):text.index("\nmain() {")]
    # --driver-memory, --conf spark.driver.memory=... and $SPARK_DRIVER_MEMORY each keep the user's figure
    assert '[[ $1 == --driver-memory || ($1 == --conf && $2 == spark.driver.memory=*) ]] && has_memory=1' in run_job
    assert ('[[ $has_memory == 0 && -z ${SPARK_DRIVER_MEMORY:-} ]] && is_local_master "${spark_args[@]}"'
            in run_job)
    assert 'spark_args+=(--driver-memory "$(default_driver_memory)")' in run_job
