"""The lakehouse's catalog: the one Hive metastore that every driver on a table root shares.

By default it is the Derby database under the table root, served by a Derby network server on 127.0.0.1 that
the first driver starts (:mod:`lakewatch.catalog.derby`); a second table root gets a server of its own. When
``$LAKEWATCH_METASTORE_URIS`` or the config's ``spark.hadoop.hive.metastore.uris`` names a Hive metastore
service (``thrift://host:9083``), every driver uses that instead and no server is started. A driver that runs
elsewhere than the table root's server was started from (YARN cluster deploy mode on this machine) is handed the
running server's JDBC URL in ``$LAKEWATCH_METASTORE_URL`` and connects to it without starting one.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from lakewatch.catalog import derby
from lakewatch.config import LakewatchConfig
from lakewatch.errors import CatalogError

METASTORE_URIS_ENV = "LAKEWATCH_METASTORE_URIS"
METASTORE_URL_ENV = "LAKEWATCH_METASTORE_URL"
URIS_KEYS = ("spark.hadoop.hive.metastore.uris", "spark.hive.metastore.uris")
CONNECTION_URL = "spark.hadoop.javax.jdo.option.ConnectionURL"
CONNECTION_DRIVER = "spark.hadoop.javax.jdo.option.ConnectionDriverName"


def metastore_uris(config: LakewatchConfig) -> str | None:
    """The Hive metastore service to use ($LAKEWATCH_METASTORE_URIS, else the config's), or None for Derby."""
    conf = dict(config.spark.conf)
    return os.environ.get(METASTORE_URIS_ENV) or next((conf[k] for k in URIS_KEYS if conf.get(k)), None)


def describe(config: LakewatchConfig) -> str:
    """The catalog a config uses, in words, for messages: its URL and table root."""
    uris = metastore_uris(config)
    if uris:
        return f"catalog {uris} (table root {config.lakehouse.root})"
    if os.environ.get(METASTORE_URL_ENV):
        return f"catalog {os.environ[METASTORE_URL_ENV].split(';')[0]} (table root {config.lakehouse.root})"
    server = derby.recorded_server(config.lakehouse)
    where = server.jdbc_url.split(";")[0] if server else f"Derby under {config.lakehouse.metastore}"
    return f"catalog {where} (table root {config.lakehouse.root})"


@contextmanager
def connecting(config: LakewatchConfig, jars: Sequence[str]) -> Iterator[dict[str, str]]:
    """Yield the Spark settings that connect a session to the config's catalog, its server started if needed.

    While the caller makes the first connection to a new Derby metastore (which creates its tables), other
    drivers wait here, so two jobs starting at once on a new table root do not both create them.
    `jars` is the session's jar list (the one that holds derbynet and derbyclient).
    """
    uris = metastore_uris(config)
    if uris:
        check_service(uris, config)
        yield {URIS_KEYS[0]: uris}
        return
    url = os.environ.get(METASTORE_URL_ENV)
    if url:
        check_server_url(url, config)
        yield {CONNECTION_URL: url, CONNECTION_DRIVER: derby.CLIENT_DRIVER}
        return
    with derby.serving(config.lakehouse, derby_jars(jars)) as server:
        yield {CONNECTION_URL: server.jdbc_url, CONNECTION_DRIVER: derby.CLIENT_DRIVER}


def check_service(uris: str, config: LakewatchConfig, timeout: float = 5) -> None:
    """Raise CatalogError unless one of the metastore service `uris` (comma-separated) takes connections."""
    reasons = []
    for uri in (u.strip() for u in uris.split(",") if u.strip()):
        parsed = urlparse(uri)
        if parsed.scheme != "thrift" or not parsed.hostname or not parsed.port:
            raise CatalogError(f"catalog {uri}: a Hive metastore URI looks like thrift://host:9083")
        try:
            with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(exc.strerror or str(exc))
    raise unreachable(config, "; ".join(reasons))


def check_server_url(url: str, config: LakewatchConfig, timeout: float = 5) -> None:
    """Raise CatalogError unless `url` (``jdbc:derby://host:port/db...``, a running catalog server) takes
    connections."""
    parsed = urlparse(url.removeprefix("jdbc:").split(";")[0])
    if parsed.scheme != "derby" or not parsed.hostname or not parsed.port:
        raise CatalogError(f"{METASTORE_URL_ENV}={url}: a catalog server URL looks like jdbc:derby://host:1527/db")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            return
    except OSError as exc:
        raise unreachable(config, exc.strerror or str(exc)) from None


def derby_jars(jars: Sequence[str]) -> dict[str, Path]:
    """Derby's jars by artifact name: the engine from the pyspark wheel, derbynet and derbyclient from `jars`."""
    found: dict[str, Path] = {}
    for jar in [*(_spark_home() / "jars").glob("derby*.jar"), *map(Path, jars)]:
        name = jar.name.rsplit("-", 1)[0]
        if name in (*derby.ENGINE_JARS, derby.SERVER_JAR, derby.CLIENT_JAR):
            found.setdefault(name, jar)
    missing = sorted({*derby.ENGINE_JARS, derby.SERVER_JAR, derby.CLIENT_JAR} - set(found))
    if missing:
        raise CatalogError(f"the Derby jars {missing} are not in the jar list: run ./spark-submit.sh setup "
                           f"(conf/packages.txt lists org.apache.derby:derbynet and derbyclient)")
    return found


def unreachable(config: LakewatchConfig, reason: str) -> CatalogError:
    """The one-line error for a catalog that does not answer: which catalog, why, and what to do."""
    if metastore_uris(config):
        advice = (f"start that Hive metastore service, or unset {METASTORE_URIS_ENV} and "
                  f"spark.hadoop.hive.metastore.uris to use the lakehouse's own Derby catalog")
    elif os.environ.get(METASTORE_URL_ENV):
        advice = (f"start it with ./spark-submit.sh catalog start --table-root {config.lakehouse.root} where it "
                  f"ran, or unset {METASTORE_URL_ENV}")
    else:
        advice = (f"run ./spark-submit.sh catalog stop --table-root {config.lakehouse.root} and start the job "
                  f"again (the server's log: {config.lakehouse.catalog_dir / derby.LOG_FILE})")
    return CatalogError(f"{describe(config)} cannot be reached ({reason}): {advice}")


def _spark_home() -> Path:
    """$SPARK_HOME (set by spark-submit), else the installed pyspark package, which ships Spark's jars."""
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise CatalogError("neither SPARK_HOME nor pyspark is there, so Derby's engine jars cannot be found")
    return Path(spec.origin).parent
