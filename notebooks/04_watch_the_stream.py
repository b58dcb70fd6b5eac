# Databricks notebook source
# MAGIC %md
# MAGIC # Watch the score stream
# MAGIC Runs the score stream (silver.readings -> gold.anomaly_scores and gold.anomalies) until it has caught up
# MAGIC (`availableNow`), then shows each micro-batch's progress, how far the scores trail the readings, and the
# MAGIC latest anomaly events. Where the `score_stream` job runs continuously, set `run_stream` to false and only
# MAGIC watch (lag and events read the tables it writes).
# MAGIC
# MAGIC Widgets: `table_root`, `env`, `run_stream` (true/false), `detector` (a registry name) or `model` (an MLflow
# MAGIC model URI such as models:/lakewatch-detector@champion; both empty: streaming.detector/model),
# MAGIC `threshold` (empty: streaming.threshold), `latest` (events shown).

# COMMAND ----------

from lakewatch.notebooks import as_float, as_int, notebook_config, notebook_params, notebook_spark
from lakewatch.streaming.settings import AVAILABLE_NOW, stream_settings

params = notebook_params(globals(), table_root="", env="local", overrides="", run_stream="true", detector="", model="",
                         threshold="", latest="10")
config = notebook_config(params)
spark = notebook_spark(config)
settings = stream_settings(config).with_overrides(
    trigger=AVAILABLE_NOW, detector=params["detector"] or None, model=params["model"] or None,
    threshold=as_float(params, "threshold"))
if params["detector"]:
    settings = settings.with_overrides(model="")

# COMMAND ----------

# MAGIC %md ## Run until caught up; progress per micro-batch

# COMMAND ----------

from lakewatch.investigate import batch_progress
from lakewatch.progress import Progress
from lakewatch.streaming.job import run_score_stream

if params["run_stream"].lower() == "true":
    report = run_score_stream(spark, config, settings, Progress("notebook-stream"))
    print(f"{report.stopped}: {report.batches} batches, {report.scored:,} rows scored, {report.flagged:,} flagged "
          f"in {report.seconds:.1f}s (detector {report.detector}, checkpoint {report.checkpoint})")
    display(batch_progress(report))

# COMMAND ----------

# MAGIC %md ## Lag: readings not scored yet, per series

# COMMAND ----------

from lakewatch.investigate import latest_anomalies, stream_lag

lag = stream_lag(spark, config)
display(lag)

# COMMAND ----------

# MAGIC %md ## Latest anomaly events

# COMMAND ----------

latest = latest_anomalies(spark, config, as_int(params, "latest") or 10)
display(latest)
