# Databricks notebook source
# MAGIC %md
# MAGIC # Investigate one anomaly
# MAGIC One event of gold.anomalies: the scored points around it, the SHAP attributions that explain its peak
# MAGIC score (which lagged inputs pushed it up), and similar past events of any series.
# MAGIC
# MAGIC Widgets: `table_root`, `env`, `series_id` and `start` (an event's series and start timestamp; empty:
# MAGIC the highest-scoring event, of that series when only `series_id` is given), `before`/`after` (rows of
# MAGIC context), `similar` (past events shown).

# COMMAND ----------

from lakewatch.investigate import pick_event
from lakewatch.notebooks import as_int, notebook_config, notebook_params, notebook_spark

params = notebook_params(globals(), table_root="", env="local", overrides="", series_id="", start="", before="50",
                         after="20", similar="5")
config = notebook_config(params)
spark = notebook_spark(config)
event = pick_event(spark, config, params["series_id"], params["start"])
print(f"event: {event['series_id']}/{event['channel']} {event['start']} .. {event['end']}, "
      f"{event['points']} points, peak {event['peak_score']:.4f} at {event['peak_at']} ({event['detector']})")

# COMMAND ----------

# MAGIC %md ## Context: the scored points around the event

# COMMAND ----------

from lakewatch.investigate import event_context

context = event_context(spark, config, event, as_int(params, "before") or 50, as_int(params, "after") or 20)
display(context)

# COMMAND ----------

# MAGIC %md ## Why: SHAP attributions of the peak score

# COMMAND ----------

from lakewatch.investigate import event_attributions

attributions = event_attributions(event)
if len(attributions):
    display(attributions)
else:
    print("no attributions stored (streaming.explain.enabled was false)")

# COMMAND ----------

# MAGIC %md ## Similar past events

# COMMAND ----------

from lakewatch.investigate import similar_events

similar = similar_events(spark, config, event, as_int(params, "similar") or 5)
display(similar)
