# Databricks notebook source
# MAGIC %md
# MAGIC # Train and register a model
# MAGIC Trains the window autoencoder on gold.features with TorchDistributor, scores it on NAB files in-process,
# MAGIC saves its artifacts and logs the run to MLflow (the model registered; promoted to champion when its NAB
# MAGIC standard score beats the current champion's). The `train` job does the same from spark-submit.
# MAGIC
# MAGIC Widgets: `table_root`, `env`, `model` (cnn_ae...; empty: training.model), `epochs`, `window`,
# MAGIC `num_processes` (empty: from the config), `corpus` and `nab_files` (comma-separated keys scored after
# MAGIC training; `nab_files` empty: no NAB score, and no promotion), `register` (true/false: log to MLflow).

# COMMAND ----------

import pandas as pd

from lakewatch.evaluation import default_corpus_path
from lakewatch.notebooks import as_int, as_list, notebook_config, notebook_params, notebook_spark
from lakewatch.training import TrainingSettings

params = notebook_params(globals(), table_root="", env="local", overrides="", model="", epochs="", window="",
                         num_processes="", corpus=str(default_corpus_path()), nab_files="",
                         register="true")
config = notebook_config(params)
spark = notebook_spark(config)
settings = config.settings("training", TrainingSettings).with_overrides(
    model=params["model"] or None, epochs=as_int(params, "epochs"), window=as_int(params, "window"),
    num_processes=as_int(params, "num_processes"))
display(pd.DataFrame([{k: str(v) for k, v in settings.as_dict().items()}]))

# COMMAND ----------

# MAGIC %md ## Train, score on NAB, log and register
# MAGIC One call does what the `train` job does: train, save the artifacts, score the chosen NAB files, log the run
# MAGIC to MLflow and, with a NAB score, register the model and promote it if it beats the champion.

# COMMAND ----------

from lakewatch.progress import Progress
from lakewatch.training.run import train_and_register

nab_files = as_list(params, "nab_files")
record = train_and_register(spark, config, settings, Progress("notebook-train"),
                            corpus=params["corpus"] if nab_files else None, nab_files=nab_files,
                            log=params["register"].lower() == "true")
result, artifacts, scores = record.result, record.artifacts, record.nab
display(pd.DataFrame({"epoch": range(1, len(result.metrics["loss"]) + 1), "loss": result.metrics["loss"],
                      "windows_per_second": result.metrics["windows_per_second"]}))

# COMMAND ----------

# MAGIC %md ## NAB scores and the registry

# COMMAND ----------

if scores:
    display(pd.DataFrame([scores]))
else:
    print("no NAB files chosen: not scored (and not promoted)")
registered = record.mlflow_details()
display(pd.DataFrame([{"run_id": result.run_id, "artifacts": str(artifacts), **registered}]))
