"""The package carries its jobs: a wheel built from setup.py, installed in a fresh virtual environment, runs every
job's --help from outside the repository and finds its conf/ defaults inside the package."""

from __future__ import annotations

import ast
import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.syntax import parse_files

JOBS = sorted(p.stem for p in (REPO / "jobs").glob("*.py") if not p.stem.startswith("_"))


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(wheel, the fresh environment's bin folder, a working folder outside the repository).

    The fresh environment gets the wheel alone; its dependencies (pyspark, torch, ...) are seen through a .pth
    line naming this environment's site-packages, which adds their folder but runs none of its .pth files, so the
    repository's editable install of lakewatch stays invisible there.
    """
    work = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                  str(work / "dist"), str(REPO)], cwd=work)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((work / "dist").glob("lakewatch-*.whl"))
    env_dir = work / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                      "-q", str(wheel)], cwd=work, env=_clean_env())
    assert installed.returncode == 0, installed.stderr[-3000:]
    # After the install, or pip would take the repository's editable lakewatch for this one.
    fresh_site = next(env_dir.glob("lib/python*/site-packages"))
    (fresh_site / "lakewatch_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    outside = tmp_path_factory.mktemp("elsewhere")
    return wheel, env_dir / "bin", outside


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LAKEWATCH_", "PYTHON"))}


def test_the_wheel_carries_every_job_the_conf_defaults_and_an_entry_point_per_job(installed) -> None:
    wheel, _, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for job in JOBS:
        assert f"lakewatch/jobs/{job}.py" in names
        assert f"lakewatch-{job.replace('_', '-')} = lakewatch.jobs.{job}:main" in points
    assert "lakewatch = lakewatch.entry:main" in points
    for conf in ("base.yaml", "detectors.yaml", "local.yaml", "cluster.yaml", "packages.txt", "log4j2.properties",
                 "expectations/silver_readings.yaml"):
        assert f"lakewatch/_conf/{conf}" in names, conf


def test_the_installed_command_lists_and_runs_the_jobs_from_outside_the_repository(installed) -> None:
    _, bin_dir, outside = installed
    listed = _run([str(bin_dir / "lakewatch"), "--help"], cwd=outside, env=_clean_env())
    assert listed.returncode == 0, listed.stderr
    for job in JOBS:
        assert f"  {job} " in listed.stdout
    helped = _run([str(bin_dir / "lakewatch"), "pipeline", "--help"], cwd=outside, env=_clean_env())
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "--table-root" in helped.stdout and "--source" in helped.stdout
    unknown = _run([str(bin_dir / "lakewatch"), "no_such_job"], cwd=outside, env=_clean_env())
    assert unknown.returncode == 2 and "unknown job 'no_such_job'" in unknown.stderr


@pytest.mark.parametrize("job", JOBS)
def test_each_job_entry_point_answers_help(installed, job: str) -> None:
    _, bin_dir, outside = installed
    helped = _run([str(bin_dir / f"lakewatch-{job.replace('_', '-')}"), "--help"], cwd=outside, env=_clean_env())
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "usage:" in helped.stdout


def test_the_installed_package_reads_its_own_conf_outside_the_repository(installed) -> None:
    _, bin_dir, outside = installed
    probe = ("from lakewatch.config import default_conf_dir, load_config; import lakewatch; c = load_config(); "
             "print(default_conf_dir()); print(c.table_root); print(c.config_hash); print(lakewatch.__file__)")
    shown = _run([str(bin_dir / "python"), "-c", probe], cwd=outside, env=_clean_env())
    assert shown.returncode == 0, shown.stderr[-3000:]
    conf, table_root, config_hash, module = shown.stdout.split()
    assert Path(conf).parts[-2:] == ("lakewatch", "_conf") and str(REPO) not in conf
    assert str(REPO) not in module
    assert table_root == str(outside / "delta_tables"), "a relative table root resolves against the working folder"
    assert len(config_hash) == 12


def test_repository_jobs_are_thin_callers_of_the_package_jobs() -> None:
    for job, tree in zip(JOBS, parse_files([REPO / "jobs" / f"{job}.py" for job in JOBS]), strict=True):
        imported = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert any(node.module == f"lakewatch.jobs.{job}" for node in imported), job
        functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert not functions, f"jobs/{job}.py defines {[f.name for f in functions]}; it should only call main"


def test_the_wheel_carries_the_view_sql_and_the_installed_package_renders_it(installed) -> None:
    wheel, bin_dir, outside = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    sql_files = sorted(p.name for p in (REPO / "lib" / "lakewatch" / "views").glob("*.sql"))
    assert sql_files
    for name in sql_files:
        assert f"lakewatch/views/{name}" in names, name
    assert "lakewatch/readers/spark_functions.sql" in names
    code = ("from lakewatch import views; import lakewatch.readers.duck as d; "
            "print(views.render('open_anomalies', {'gold_anomalies': 'g.a'}).count('FROM g.a')); "
            "print(d.connect().execute(\"SELECT get_json_object('{\\\"a\\\": 7}', '$.a')\").fetchone()[0])")
    rendered = _run([str(bin_dir / "python"), "-c", code], cwd=outside, env=_clean_env())
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert rendered.stdout.split() == ["1", "7"]
