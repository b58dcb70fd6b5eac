"""Run ./spark-submit.sh jobs in a subprocess, and a Spark standalone master and worker on loopback."""

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


def job_env() -> dict[str, str]:
    """The environment jobs run with: loopback only, the test's virtual environment."""
    env = dict(os.environ)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["SPARK_HOME"] = str(SPARK_HOME)
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
def standalone_cluster(work: Path) -> Iterator[str]:
    """Start a Spark standalone master and one worker (2 cores) on 127.0.0.1; yield the master URL."""
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
                processes.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=job_env()))
            _wait_for(log, ready, processes[-1])
        yield url
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
