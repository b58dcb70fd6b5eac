"""lakewatch on real clusters: a Spark standalone master and worker, and a one-node YARN cluster (Hadoop's
MiniYARNCluster), on loopback. Executors run the environment `pack-env` ships (the wheel with its conf defaults and
what executors import), never the repository; the driver in YARN cluster deploy mode runs it too; drivers on the
cluster share the table root's catalog with drivers here."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakewatch.catalog import derby
from lakewatch.layout import Lakehouse
from tests.conftest import REPO
from tests.jobs_harness import SPARK_HOME, job_env, mini_yarn_cluster, run_job, standalone_cluster

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

TINY = ["--set", "synthetic.series=2", "--set", "synthetic.points=200", "--set", "quality.min_rows_per_series=10"]
ENV_PYTHON = "./environment/bin/python"


def _ok(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, f"exit {process.returncode}\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    return process.stdout + process.stderr


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Path]:
    """A table root whose catalog server (started by the jobs) is stopped after the test."""
    root = tmp_path / "lake"
    yield root
    _ok(run_job(["catalog", "stop", "--table-root", str(root)]))


def _clean_env() -> dict[str, str]:
    """The jobs' environment without the repository: no PYTHONPATH, no LAKEWATCH_* (the home, the venv)."""
    return {k: v for k, v in job_env().items() if not k.startswith(("LAKEWATCH_", "PYTHON"))}


@pytest.fixture(scope="module")
def shipped_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive `./spark-submit.sh pack-env --driver` makes (wheel, conf defaults, executor and driver packages)."""
    out = tmp_path_factory.mktemp("shipped") / "lakewatch-env.tar.gz"
    said = _ok(run_job(["pack-env", "--driver", "--out", str(out)], timeout=600))
    assert f"--archives {out}#environment" in said
    return out


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(master URL, work folder) of a standalone cluster whose worker knows nothing of the repository."""
    work = tmp_path_factory.mktemp("standalone")
    with standalone_cluster(work, env=_clean_env()) as master:
        yield master, work


def test_a_standalone_master_refuses_cluster_deploy_mode_in_one_line(tmp_path: Path) -> None:
    refused = run_job(["pipeline", "--master", "spark://127.0.0.1:7077", "--deploy-mode", "cluster",
                       "--table-root", str(tmp_path)])
    assert refused.returncode == 2
    assert ("a standalone master (spark://127.0.0.1:7077) runs Python drivers in client deploy mode only"
            in refused.stderr), refused.stderr[-2000:]
    missing = run_job(["pipeline", "--python-env", str(tmp_path / "none.tar.gz"), "--table-root", str(tmp_path)])
    assert missing.returncode == 2 and "--python-env needs an existing archive" in missing.stderr


PROBE = textwrap.dedent("""
    import json
    from pyspark.sql import SparkSession

    def where(_):
        import lakewatch
        from lakewatch.config import default_conf_dir, load_config
        config = load_config()
        yield json.dumps({"package": lakewatch.__file__, "conf": str(default_conf_dir()),
                          "tables": config.tables.silver_readings})

    spark = SparkSession.builder.getOrCreate()
    for line in sorted(set(spark.sparkContext.parallelize(range(2), 2).mapPartitions(where).collect())):
        print("EXECUTOR", line)
    spark.stop()
""")


def test_executors_import_the_package_and_its_conf_from_the_shipped_environment(
        standalone: tuple[str, Path], shipped_env: Path, tmp_path: Path) -> None:
    master, _ = standalone
    (tmp_path / "probe.py").write_text(PROBE)
    # From a folder that is not the repository, with Spark's own spark-submit and nothing of lakewatch around.
    submitted = subprocess.run(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master, "--archives", f"{shipped_env}#environment",
         "--conf", f"spark.pyspark.python={ENV_PYTHON}", "--conf", f"spark.pyspark.driver.python={sys.executable}",
         "--executor-memory", "512m", "probe.py"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)
    said = _ok(submitted)
    found = [json.loads(line.split(" ", 1)[1]) for line in said.splitlines() if line.startswith("EXECUTOR ")]
    assert len(found) == 1, said[-3000:]
    package, conf = Path(found[0]["package"]), Path(found[0]["conf"])
    assert package.parts[-5:] == ("lib", "python3.11", "site-packages", "lakewatch", "__init__.py")
    assert "environment" in package.parts and str(REPO) not in str(package) and "/work/main" not in str(package)
    assert conf.parts[-2:] == ("lakewatch", "_conf") and conf.parent == package.parent
    assert found[0]["tables"] == "silver.readings"


def test_the_pipeline_runs_on_a_standalone_cluster_and_a_second_driver_shares_its_catalog(
        standalone: tuple[str, Path], shipped_env: Path, lake: Path) -> None:
    master, work = standalone
    root = lake
    out = _ok(run_job(["pipeline", "--master", master, "--executor-memory", "1g", "--python-env", str(shipped_env),
                       "--table-root", str(root), *TINY]))
    assert "silver rows added    400" in out and "balanced             yes" in out
    assert "validation           passed" in out
    executors = list((work / "worker").glob("app-*/*/stderr"))
    assert executors, "no executor ran on the standalone worker"
    assert list((work / "worker").glob("app-*/*/environment/bin/python")), "the worker did not unpack the archive"
    # A second driver on the cluster finds the tables by name through the table root's catalog server.
    server = derby.recorded_server(Lakehouse(str(root)))
    assert server is not None and derby.answers(server)
    counted = _ok(run_job(["sql", "SELECT count(*) AS n FROM silver.readings", "--master", master,
                           "--executor-memory", "512m", "--table-root", str(root)]))
    assert "|400|" in counted.replace(" ", "")
    assert derby.recorded_server(Lakehouse(str(root))) == server


def test_the_pipeline_runs_in_yarn_cluster_deploy_mode_and_shares_the_catalog(
        shipped_env: Path, lake: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("yarn")
    root = lake
    yarn_options = ["--master", "yarn", "--deploy-mode", "cluster", "--python-env", str(shipped_env),
                    # The nodes have Spark where this machine has it: no upload of its 400 MB of jars per job.
                    "--conf", f"spark.yarn.jars=local:{SPARK_HOME}/jars/*",
                    "--conf", f"spark.yarn.stagingDir={(work / 'staging').as_uri()}",
                    "--driver-memory", "1g", "--executor-memory", "1g", "--num-executors", "1"]
    with mini_yarn_cluster(work) as conf_dir:
        submitted = run_job(["pipeline", *yarn_options, "--table-root", str(root), *TINY], timeout=600,
                            HADOOP_CONF_DIR=str(conf_dir))
    said = _ok(submitted)
    assert "final status: SUCCEEDED" in said
    logs = work / "target" / "test" / "data" / "lakewatch"
    drivers = [p.read_text() for p in logs.glob("*/*/application_*/container_*_01_000001/stdout")]
    assert any("silver rows added    400" in log and "validation           passed" in log for log in drivers), drivers
    # The driver ran in a YARN container, on the shipped environment; a driver here sees what it wrote.
    counted = _ok(run_job(["sql", "SELECT count(*) AS n FROM silver.readings", "--table-root", str(root)]))
    assert "|400|" in counted.replace(" ", "")
