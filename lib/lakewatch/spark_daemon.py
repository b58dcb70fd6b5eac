"""The PySpark worker daemon of lakewatch's sessions (`spark.python.daemon.module`, conf/base.yaml): pyspark.daemon
itself, started with Spark's archives taken off the module path where they are not needed.

Why: every Python task begins with ``importlib.invalidate_caches()`` (pyspark.worker_util.setup_spark_files), and
that makes every zipimporter re-read its archive's directory. Spark puts its ``pyspark.zip``, py4j's zip and
spark-core's jar (5,000 entries, no Python in it) on the workers' path; with pyspark imported from the zip each
package inside it has a zipimporter of its own, so the call costs about 115 ms of CPU per task on this machine, as
much as a low-latency stream's scoring of a few thousand readings (BENCHMARKS.md, "Session 24"). Without those
archives (pyspark and py4j imported from the installed packages, the same versions: Spark's zips ship inside the
pyspark package) it takes 0.05 ms. A worker where pyspark is only in Spark's zip (a cluster without it installed)
keeps the zips.

A reused worker also runs a full garbage collection after every task (``gc.collect()`` in pyspark.daemon), which
walks every object the worker holds: pandas, pyarrow, numba, the detectors, ~140,000 objects, 60-70 ms a call
here, and under py-spy half of a low-latency stream's worker samples (BENCHMARKS.md, "Session 25"). This daemon
collects the young generations there instead (what a task leaves in cycles, the common case) and leaves the old
generation to Python's own thresholds, as any long-running Python process does.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys

PACKAGES = ("pyspark", "py4j")  # in Spark's python/lib/pyspark.zip and py4j-<version>-src.zip


def spark_zips(path: list[str]) -> list[str]:
    """The entries of `path` that are Spark's zip archives of pyspark and py4j."""
    return [p for p in path if p.endswith(".zip") and os.path.basename(p).startswith(PACKAGES)]


def spark_jars(path: list[str]) -> list[str]:
    """The entries of `path` that are Spark's own jars (``.../jars/spark-*.jar``: Java classes, no Python)."""
    return [p for p in path if p.endswith(".jar") and os.path.basename(p).startswith("spark-")
            and os.path.basename(os.path.dirname(p)) == "jars"]


def _drop(entries: list[str]) -> None:
    sys.path[:] = [p for p in sys.path if p not in entries]
    for entry in entries:
        sys.path_importer_cache.pop(entry, None)


def without_spark_archives() -> list[str]:
    """Take Spark's jars off sys.path, and its pyspark and py4j zips when both packages are importable without
    them; returns what was taken off."""
    jars, zips = spark_jars(sys.path), spark_zips(sys.path)
    _drop(jars)
    if zips:
        saved = list(sys.path)
        _drop(zips)
        if not all(importlib.util.find_spec(name) is not None for name in PACKAGES):
            sys.path[:] = saved
            zips = []
    return jars + zips


class YoungCollections:
    """Stands in for the ``gc`` module inside pyspark.daemon, whose only use of it is the collection after each
    task: generations 0 and 1 there (about a millisecond), the old one when Python's thresholds call for it."""

    @staticmethod
    def collect(generation: int = 2) -> int:
        """Collect at most the young generations; returns the unreachable objects found, as gc.collect does."""
        return gc.collect(min(generation, 1))


def serve() -> None:
    """Run pyspark.daemon's manager with Spark's archives off the path and young collections between tasks."""
    without_spark_archives()
    daemon = importlib.import_module("pyspark.daemon")
    daemon.gc = YoungCollections
    daemon.manager()


if __name__ == "__main__":
    serve()
