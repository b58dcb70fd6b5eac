"""A real Apache Kafka broker (KRaft, single node) for tests, run from the Maven Central jars with plain java.

``KafkaBroker`` resolves ``org.apache.kafka:kafka_2.13:<KAFKA_VERSION>`` and its runtime dependencies into
~/.m2 once (``mvn dependency:build-classpath`` on a generated pom, like spark-submit.sh does for Spark's jars)
and caches the classpath under ~/.cache/lakewatch, so later runs start without Maven. It formats a KRaft log
directory with ``kafka.tools.StorageTool`` (one combined broker+controller node, a static one-voter quorum),
starts ``kafka.Kafka`` on free loopback ports and waits until an admin client can talk to it.

    with KafkaBroker() as broker:
        broker.create_topic("readings", partitions=2)
        broker.produce("readings", [{"series_id": "a", "timestamp": 0, "value": 1.0}])
        broker.restart()   # same ports, same log dir: the data survives

Kafka 4.x brokers speak to the 3.9.1 clients that spark-sql-kafka-0-10_2.13:4.1.1 uses.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
_CACHE = Path(os.environ.get("LAKEWATCH_CACHE", Path.home() / ".cache" / "lakewatch"))
_JVM_OPTS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]


class KafkaHarnessError(RuntimeError):
    """The test broker could not be resolved, formatted, started or reached."""


def _pom(version: str) -> str:
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>lakewatch</groupId><artifactId>kafka-test-broker</artifactId><version>1</version>"
        f"<dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{SCALA_VERSION}</artifactId>"
        f"<version>{version}</version></dependency></dependencies></project>"
    )


def broker_classpath(version: str = KAFKA_VERSION) -> str:
    """The java classpath of the Kafka server ``version``, resolved with Maven once and cached."""
    cached = _CACHE / f"kafka_{SCALA_VERSION}-{version}.classpath"
    if cached.exists():
        classpath = cached.read_text().strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    if shutil.which("mvn") is None:
        raise KafkaHarnessError(f"Maven (mvn) is needed once to resolve org.apache.kafka:kafka_2.13:{version}")
    with tempfile.TemporaryDirectory(prefix="lakewatch-kafka-pom-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(version))
        out = Path(work) / "cp.txt"
        done = subprocess.run(
            ["mvn", "--batch-mode", "--quiet", "-f", str(pom), "dependency:build-classpath",
             f"-Dmdep.outputFile={out}"],
            capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0 or not out.exists():
            raise KafkaHarnessError(
                f"Maven could not resolve org.apache.kafka:kafka_{SCALA_VERSION}:{version}:\n{done.stdout[-4000:]}"
            )
        classpath = out.read_text().strip()
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(classpath)
    return classpath


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: SIGTERM the broker when the test process dies, so a killed pytest leaves no broker behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 bytes without padding. One in 64 starts with "-", which
    # StorageTool's argument parser takes for an option ("--cluster-id: expected one argument"); Kafka's own
    # Uuid.randomUuid skips those too.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaBroker:
    """One combined broker+controller Kafka node on loopback, with its data in a temporary folder."""

    def __init__(self, workdir: str | Path | None = None, version: str = KAFKA_VERSION,
                 startup_timeout: float = 90.0) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="lakewatch-kafka-"))
        self.version = version
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.controller_port = free_port()
        self._process: subprocess.Popen | None = None
        self._log = None
        self._formatted = False

    # --------------------------------------------------------------------------------------- lifecycle
    @property
    def bootstrap(self) -> str:
        """host:port of the PLAINTEXT listener, for clients and Spark's kafka.bootstrap.servers."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """The broker's stdout/stderr (read it when a start fails)."""
        return self.workdir / "broker.log"

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self) -> None:
        """Format the log dir on first use, start the broker and wait until it serves metadata."""
        if self._process is not None and self._process.poll() is None:
            return
        classpath = broker_classpath(self.version)
        props = self._write_properties()
        if not self._formatted:
            self._format(classpath, props)
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - kept open while the broker runs
        self._process = subprocess.Popen(
            ["java", *_JVM_OPTS, "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        self._wait_ready()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM (a clean shutdown), SIGKILL if it has not exited after ``timeout`` s."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same ports and log dir (committed data survives)."""
        self.stop()
        self.start()

    # --------------------------------------------------------------------------------------- clients
    def admin(self):
        """A kafka-python admin client for this broker (close it after use)."""
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create topic ``name`` with ``partitions`` partitions (replication 1) and wait until it has leaders."""
        from kafka.admin import NewTopic

        admin = self.admin()
        try:
            admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=30000)
        finally:
            admin.close()
        self._wait_leaders(name, partitions)

    def produce(self, topic: str, messages: Iterable[Any], partition: int | None = None) -> list[tuple[int, int]]:
        """Send ``messages`` to ``topic`` and wait for the acks; returns (partition, offset) of each.

        A dict is sent as JSON (keyed by its series_id, so one series stays in one partition, in order); str
        and bytes are sent as they are (for malformed-message tests).
        """
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, retries=5)
        try:
            futures = []
            for message in messages:
                key = None
                if isinstance(message, dict):
                    key = str(message.get("series_id", "")).encode() or None
                    payload = json.dumps(message).encode()
                elif isinstance(message, str):
                    payload = message.encode()
                elif isinstance(message, bytes):
                    payload = message
                else:
                    raise TypeError(f"produce: message must be dict, str or bytes, got {type(message).__name__}")
                futures.append(producer.send(topic, value=payload, key=key, partition=partition))
            producer.flush(30)
            return [(meta.partition, meta.offset) for meta in (f.get(timeout=30) for f in futures)]
        finally:
            producer.close(5)

    # --------------------------------------------------------------------------------------- internals
    def _write_properties(self) -> Path:
        logs = self.workdir / "kraft-logs"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.flush.interval.messages": "1",
        }
        path = self.workdir / "server.properties"
        self.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
        return path

    def _format(self, classpath: str, props: Path) -> None:
        done = subprocess.run(
            ["java", *_JVM_OPTS, "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", _cluster_id(), "-c", str(props), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0:
            raise KafkaHarnessError(f"kafka.tools.StorageTool format failed:\n{done.stdout}\n{done.stderr}")
        self._formatted = True

    def _wait_ready(self) -> None:
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise KafkaHarnessError(f"the Kafka broker exited during start-up; see {self.log_file}:\n"
                                        f"{self._tail_log()}")
            try:
                admin = self.admin()
                try:
                    if admin.describe_cluster().get("brokers"):
                        return
                finally:
                    admin.close()
            except (KafkaError, OSError, ValueError) as exc:
                last = exc
            time.sleep(0.3)
        self.stop()
        raise KafkaHarnessError(f"the Kafka broker on {self.bootstrap} was not ready after {self.startup_timeout}s "
                                f"({last!r}); log:\n{self._tail_log()}")

    def _wait_leaders(self, topic: str, partitions: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            admin = self.admin()
            try:
                described = admin.describe_topics([topic])
            finally:
                admin.close()
            parts = described[0].get("partitions", []) if described else []
            if len(parts) == partitions and all(p.get("leader_id", -1) >= 0 for p in parts):
                return
            time.sleep(0.2)
        raise KafkaHarnessError(f"topic {topic!r} has no leader for all {partitions} partition(s) after {timeout}s")

    def _tail_log(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"
