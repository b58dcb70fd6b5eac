# Databricks notebook source
# MAGIC %md
# MAGIC # Explore the lakewatch lakehouse
# MAGIC Row counts per layer, where quarantined rows went and why, the latest validation runs, and one
# MAGIC series with its labelled anomaly windows. A thin caller: every table name comes from the config.
# MAGIC
# MAGIC Set `LAKEWATCH_TABLE_ROOT` (environment) to read a lakehouse other than the project's delta_tables/.

# COMMAND ----------

import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakewatch.config import load_config
from lakewatch.spark import get_spark

config = load_config(os.environ.get("LAKEWATCH_ENV"))  # honours $LAKEWATCH_TABLE_ROOT
# On Databricks `spark` exists already; elsewhere build the lakewatch session.
spark = SparkSession.getActiveSession() or get_spark("lakewatch-notebook", config)
names = config.tables

# COMMAND ----------

# MAGIC %md ## Rows per layer

# COMMAND ----------

layer_counts = spark.createDataFrame(
    [(name, spark.table(name).count()) for name in
     (names.bronze_readings, names.silver_readings, names.silver_quarantine, names.gold_features, names.gold_labels)],
    "table string, rows long",
)
layer_counts.show(truncate=False)

# COMMAND ----------

# MAGIC %md ## Quarantine by reason

# COMMAND ----------

quarantine_by_reason = spark.table(names.silver_quarantine).groupBy("stage", "reason").count().orderBy(F.desc("count"))
quarantine_by_reason.show(truncate=False)

# COMMAND ----------

# MAGIC %md ## Latest validation runs

# COMMAND ----------

validations = spark.table(names.ops_validation_runs).orderBy(F.desc("validated_at")).limit(5)
validations.select("suite", "success", "expectations_evaluated", "expectations_failed", "data_docs").show(
    truncate=False)

# COMMAND ----------

# MAGIC %md ## One series and its labelled windows

# COMMAND ----------

first_series = spark.table(names.silver_readings).select("series_id").orderBy("series_id").first()
if first_series:
    series_id = first_series[0]
    spark.table(names.silver_readings).where(F.col("series_id") == series_id).orderBy("timestamp").show(5)
    spark.table(names.gold_labels).where(F.col("series_id") == series_id).show(truncate=False)
