# Databricks notebook source
# MAGIC %md
# MAGIC # Explore the lakewatch lakehouse
# MAGIC Row counts per layer, where quarantined rows went and why, the latest validation runs, and one
# MAGIC series with its labelled anomaly windows. A thin caller: every table name comes from the config.
# MAGIC
# MAGIC Widgets: `table_root` (empty: the config's, or `$LAKEWATCH_TABLE_ROOT`), `env` (conf/<env>.yaml).

# COMMAND ----------

from pyspark.sql import functions as F

from lakewatch.notebooks import notebook_config, notebook_params, notebook_spark

params = notebook_params(globals(), table_root="", env="local", overrides="")
config = notebook_config(params)
spark = notebook_spark(config)  # Databricks' (or the active) session when there is one
names = config.tables

# COMMAND ----------

# MAGIC %md ## Rows per layer

# COMMAND ----------

layer_counts = spark.createDataFrame(
    [(name, spark.table(name).count()) for name in
     (names.bronze_readings, names.silver_readings, names.silver_quarantine, names.gold_features, names.gold_labels)],
    "table string, rows long",
)
display(layer_counts)

# COMMAND ----------

# MAGIC %md ## Quarantine by reason

# COMMAND ----------

quarantine_by_reason = spark.table(names.silver_quarantine).groupBy("stage", "reason").count().orderBy(F.desc("count"))
display(quarantine_by_reason)

# COMMAND ----------

# MAGIC %md ## Latest validation runs

# COMMAND ----------

validations = spark.table(names.ops_validation_runs).orderBy(F.desc("validated_at")).limit(5)
display(validations.select("suite", "success", "expectations_evaluated", "expectations_failed", "data_docs"))

# COMMAND ----------

# MAGIC %md ## One series and its labelled windows

# COMMAND ----------

first_series = spark.table(names.silver_readings).select("series_id").orderBy("series_id").first()
if first_series:
    series_id = first_series[0]
    display(spark.table(names.silver_readings).where(F.col("series_id") == series_id).orderBy("timestamp").limit(5))
    display(spark.table(names.gold_labels).where(F.col("series_id") == series_id))
