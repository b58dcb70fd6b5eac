"""Run ./spark-submit.sh jobs in a subprocess, a Spark standalone master and worker on loopback, and a one-node
YARN cluster (Hadoop's MiniYARNCluster)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyspark

from tests.conftest import REPO

SPARK_HOME = Path(pyspark.__file__).parent
YARN_FIXTURE = REPO / "tests" / "fixtures" / "yarn"
# The drivers of the jobs tests start live for seconds on tiny data: the JIT's second tier (C2) costs them CPU it
# never pays back on 2 cores, so their JVMs stop at the first (a 400-row pipeline job: 89 -> 55 s of CPU, 58 -> 47
# s wall; tests/test_jobs.py 150 -> 109 s). The test process's own Spark session lives for the whole suite and
# keeps both tiers (with C1 only, tests/test_pipeline.py and test_sink.py took 226 s against 189 s).
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1"


def job_env() -> dict[str, str]:
    """The environment jobs run with: loopback only, the test's virtual environment, a short-lived driver JVM."""
    env = dict(os.environ)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["SPARK_HOME"] = str(SPARK_HOME)
    env["SPARK_SUBMIT_OPTS"] = f"{env.get('SPARK_SUBMIT_OPTS', '')} {SHORT_LIVED_JVM}".strip()
    return env


def run_job(args: Sequence[str], timeout: int = 420, **env: str) -> subprocess.CompletedProcess[str]:
    """./spark-submit.sh with `args` (and extra environment); returns the finished process, output as text."""
    return subprocess.run([str(REPO / "spark-submit.sh"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**job_env(), **env}, cwd=REPO)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(log: Path, text: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{log.name}: process exited early:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"{log.name}: no '{text}' after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def standalone_cluster(work: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a Spark standalone master and one worker (2 cores) on 127.0.0.1; yield the master URL.

    `env` replaces the jobs' environment for both (its executors inherit the worker's).
    """
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master_cmd = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                  "--webui-port", str(free_port())]
    worker_cmd = [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "2",
                  "--memory", "2g", "--webui-port", str(free_port()), "--work-dir", str(work / "worker")]
    processes: list[subprocess.Popen] = []
    try:
        for name, cmd, ready in (("master", master_cmd, "I have been elected leader"),
                                 ("worker", worker_cmd, "Successfully registered with master")):
            log = work / f"{name}.log"
            with log.open("w") as out:
                processes.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or job_env()))
            _wait_for(log, ready, processes[-1])
        yield url
    finally:
        _stop(processes)


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def mini_yarn_classpath(work: Path) -> str:
    """The class path of tests/fixtures/yarn/MiniYarn.java: its pom.xml resolved by Maven (into ~/.m2, once),
    and the log4j jars of the pyspark wheel (Hadoop logs through log4j 1's API)."""
    out = work / "classpath.txt"
    resolved = subprocess.run(["mvn", "--batch-mode", "--quiet", "-f", str(YARN_FIXTURE / "pom.xml"),
                               "dependency:build-classpath", f"-Dmdep.outputFile={out}"],
                              capture_output=True, text=True, timeout=600)
    assert resolved.returncode == 0, f"Maven could not resolve {YARN_FIXTURE / 'pom.xml'}:\n{resolved.stdout[-3000:]}"
    return ":".join([out.read_text().strip(), *map(str, sorted((SPARK_HOME / "jars").glob("log4j-*.jar")))])


@contextmanager
def mini_yarn_cluster(work: Path, memory_mb: int = 6144) -> Iterator[Path]:
    """Start a one-node YARN cluster on 127.0.0.1 (ResourceManager and NodeManager in one JVM, `memory_mb` for
    containers); yield its HADOOP_CONF_DIR (a yarn-site.xml that names it). Its containers' logs are under
    `work`/target/test/data/lakewatch."""
    work.mkdir(parents=True, exist_ok=True)
    conf_dir = work / "conf"
    conf_dir.mkdir(exist_ok=True)
    site = conf_dir / "yarn-site.xml"
    cmd = ["java", "-Xmx768m", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
           f"-Dlog4j2.configurationFile={REPO / 'conf' / 'log4j2.properties'}", "-cp", mini_yarn_classpath(work),
           str(YARN_FIXTURE / "MiniYarn.java"), str(site), str(memory_mb)]
    log = work / "yarn.log"
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=work, env=job_env())
    try:
        _wait_for(log, "MiniYARNCluster ready", process, timeout=180)
        yield conf_dir
    finally:
        _stop([process])
