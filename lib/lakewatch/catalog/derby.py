"""One Apache Derby network server per lakehouse, started on demand on loopback, shared by every driver.

Embedded Derby lets one JVM open a database; the network server opens it once and serves it to any number of
drivers (jobs, the stream, notebooks, the SQL server) over DRDA on 127.0.0.1. The server's home is the folder
that holds the metastore database, so a metastore made by the embedded driver is served as it is.

Its port and pid are kept in ``<root>/_catalog/server.json``; a lock file beside it makes two drivers that
start at once start one server. The server outlives the driver that started it, like a daemon: ``stop_server``
(``./spark-submit.sh catalog stop``) shuts it down.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from lakewatch.errors import CatalogError
from lakewatch.layout import Lakehouse

HOST = "127.0.0.1"
SERVER_CLASS = "org.apache.derby.drda.NetworkServerControl"
CLIENT_DRIVER = "org.apache.derby.jdbc.ClientDriver"
#: Derby jars the pyspark wheel ships (the engine) and those conf/packages.txt adds (server and client).
ENGINE_JARS = ("derby", "derbyshared", "derbytools")
SERVER_JAR, CLIENT_JAR = "derbynet", "derbyclient"
SERVER_FILE, LOCK_FILE, LOG_FILE = "server.json", "server.lock", "server.log"
#: A small heap and serial GC: the server holds one small database on a machine shared with Spark.
JVM_OPTIONS = ("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


@dataclass(frozen=True)
class DerbyServer:
    """A running network server: its port, process id and home (the folder holding the metastore)."""

    port: int
    pid: int
    home: str
    database: str

    @property
    def jdbc_url(self) -> str:
        """The metastore's JDBC URL for Derby's client driver (the database is created on first use)."""
        return f"jdbc:derby://{HOST}:{self.port}/{self.database};create=true"


@contextmanager
def serving(lakehouse: Lakehouse, jars: dict[str, Path], timeout: float = 60) -> Iterator[DerbyServer]:
    """The lakehouse's running server: the recorded one if it answers, else a new one on a free port.

    When its database does not exist yet, the lock stays held until the caller leaves the block, so that the
    first driver creates the metastore's tables alone. `jars` maps the Derby artifact names (derby,
    derbyshared, derbytools, derbynet) to their jar files.
    """
    with ExitStack() as held:
        held.enter_context(_locked(lakehouse.catalog_dir))
        new_database = not lakehouse.metastore.exists()
        server = recorded_server(lakehouse)
        if server is None or not answers(server):
            server = _start(lakehouse, jars, timeout)
        if not new_database:
            held.close()
        yield server


def recorded_server(lakehouse: Lakehouse) -> DerbyServer | None:
    """The server recorded in server.json (running or not), or None when there is no readable record."""
    path = lakehouse.catalog_dir / SERVER_FILE
    try:
        return DerbyServer(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def answers(server: DerbyServer) -> bool:
    """True when the recorded process is this home's Derby server and its port takes connections."""
    try:
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if SERVER_CLASS.encode() not in cmdline or f"-Dderby.system.home={server.home}".encode() not in cmdline:
        return False  # the pid was reused by another process
    try:
        with socket.create_connection((HOST, server.port), timeout=2):
            return True
    except OSError:
        return False


def stop_server(lakehouse: Lakehouse, timeout: float = 30) -> DerbyServer | None:
    """Stop the lakehouse's server if one is running; return it, or None when none was."""
    folder = lakehouse.catalog_dir
    if not folder.is_dir():
        return None
    with _locked(folder):
        server = recorded_server(lakehouse)
        (folder / SERVER_FILE).unlink(missing_ok=True)
        if server is None or not answers(server):
            return None
        # Derby logs every commit before it returns, so a terminated server loses nothing: the next one
        # recovers the database from its log as it boots.
        os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{server.pid}").exists():
            _reap(server.pid)
            time.sleep(0.1)
        if Path(f"/proc/{server.pid}").exists():
            os.kill(server.pid, signal.SIGKILL)
        return server


def _start(lakehouse: Lakehouse, jars: dict[str, Path], timeout: float) -> DerbyServer:
    folder = lakehouse.catalog_dir
    home = lakehouse.metastore.parent
    port = _free_port()
    classpath = os.pathsep.join(str(jars[name]) for name in (*ENGINE_JARS, SERVER_JAR))
    java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"
    command = [java, *JVM_OPTIONS, f"-Dderby.system.home={home}", "-cp", classpath, SERVER_CLASS,
               "start", "-h", HOST, "-p", str(port)]
    log = folder / LOG_FILE
    with log.open("ab") as out:
        try:
            # Its own session: the server lives on after the driver that started it (and its Ctrl-C).
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=home)
        except OSError as exc:
            raise CatalogError(f"catalog for table root {lakehouse.root}: cannot run {java} to start the Derby "
                               f"network server ({exc}); install Java 17 or set JAVA_HOME") from None
    server = DerbyServer(port=port, pid=process.pid, home=str(home), database=lakehouse.metastore.name)
    deadline = time.monotonic() + timeout
    while not answers(server):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            last = _last_line(log)
            raise CatalogError(f"catalog for table root {lakehouse.root}: the Derby network server on {HOST}:{port} "
                               f"did not start ({last}); see {log}, and check that no other program has the "
                               f"metastore {lakehouse.metastore} open")
        time.sleep(0.1)
    (folder / SERVER_FILE).write_text(json.dumps(asdict(server)))
    return server


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _reap(pid: int) -> None:
    """Collect the exit status of a server this process started itself (else it lingers as a zombie)."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    return lines[-1].strip() if lines else "no output"
