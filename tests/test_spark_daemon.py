"""Python workers start from lakewatch.spark_daemon: pyspark from the installed package, no Spark archive on the
module path, so a task's import-cache reset re-reads no zip; and between tasks a young-generation collection, not
a full one."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pyspark

from lakewatch.spark_daemon import YoungCollections

LIB = Path(__file__).resolve().parents[1] / "lib"


def _worker_view(_rows):
    import importlib
    import os
    import sys as worker_sys
    import time

    import pyspark as worker_pyspark

    began = time.perf_counter()
    importlib.invalidate_caches()
    yield (worker_pyspark.__file__, [p for p in worker_sys.path if p.endswith((".zip", ".jar")) and os.path.exists(p)],
           sum(type(f).__name__ == "zipimporter" for f in worker_sys.path_importer_cache.values()),
           time.perf_counter() - began)


def test_workers_import_pyspark_from_the_installed_package(spark):
    assert spark.conf.get("spark.python.daemon.module") == "lakewatch.spark_daemon"
    [(where, archives, zipimporters, seconds)] = spark.sparkContext.parallelize([0], 1).mapPartitions(
        _worker_view).collect()
    assert ".zip" not in where and where == pyspark.__file__
    assert archives == [] and zipimporters == 0
    assert seconds < 0.01  # ~0.1 s with pyspark imported from Spark's zip


def _daemon_collection(_rows):
    import sys as worker_sys

    daemon = worker_sys.modules.get("pyspark.daemon")
    yield getattr(getattr(daemon, "gc", None), "__name__", None)


def test_workers_collect_the_young_generations_between_tasks(spark):
    [collector] = spark.sparkContext.parallelize([0], 1).mapPartitions(_daemon_collection).collect()
    assert collector == "YoungCollections"  # not the gc module: its collect() walks every object, ~65 ms a task


def test_a_young_collection_frees_a_cycle_a_task_left():
    class Node:
        pass

    gc.collect()
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    assert YoungCollections.collect() >= 2 and alive() is None
    assert YoungCollections.collect(0) == 0


def test_the_zips_stay_when_pyspark_is_not_installed_without_them(tmp_path):
    """A worker that finds pyspark only in Spark's zip (a cluster without it installed) keeps the zips; Spark's
    jars go in any case."""
    zipped = tmp_path / "python" / "lib" / "pyspark.zip"
    zipped.parent.mkdir(parents=True)
    zipped.write_bytes(b"")
    jar = tmp_path / "jars" / "spark-core_2.13-4.1.1.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"")
    # -S: no site-packages, so pyspark is nowhere but in the (here empty) zip
    z, j = str(zipped), str(jar)
    code = (f"import sys; sys.path[:0] = [{z!r}, {j!r}]; from lakewatch import spark_daemon; "
            f"print(spark_daemon.without_spark_archives()); print({z!r} in sys.path, {j!r} in sys.path)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(LIB)}).stdout
    assert out.splitlines() == [repr([j]), "True False"]
