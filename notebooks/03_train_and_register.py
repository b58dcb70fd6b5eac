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

# MAGIC %md ## Train

# COMMAND ----------

from lakewatch.progress import Progress
from lakewatch.training import train_model

result = train_model(spark, config, settings, Progress("notebook-train"))
artifacts = config.lakehouse.model(result.run_id)
result.detector.save_artifacts(artifacts)
display(pd.DataFrame({"epoch": range(1, len(result.metrics["loss"]) + 1), "loss": result.metrics["loss"],
                      "windows_per_second": result.metrics["windows_per_second"]}))

# COMMAND ----------

# MAGIC %md ## NAB score of the trained detector

# COMMAND ----------

from lakewatch.evaluation import NabCorpus, run_on_nab, score_nab_run

nab_files = as_list(params, "nab_files")
scores = {}
if nab_files:
    corpus = [s for s in NabCorpus.at(params["corpus"]).series() if s.key in nab_files]
    scores = score_nab_run(params["corpus"], run_on_nab(params["corpus"], result.detector, corpus))
if scores:
    display(pd.DataFrame([scores]))
else:
    print("no NAB files chosen: not scored (and not promoted)")

# COMMAND ----------

# MAGIC %md ## Log and register in MLflow

# COMMAND ----------

from lakewatch.training.mlflow_run import log_training_run, tracking_available

registered = {}
if params["register"].lower() == "true" and tracking_available():
    registered = log_training_run(spark, config, result, scores, artifacts)
display(pd.DataFrame([{"run_id": result.run_id, "artifacts": artifacts, **registered}]))
