# Databricks notebook source
# MAGIC %md
# MAGIC # Evaluate detectors on NAB
# MAGIC Runs registry detectors over the NAB corpus in-process (numpy, no Spark) and scores them with NAB v1.1
# MAGIC (probationary period, scaled-sigmoid windows, corpus-wide threshold per cost profile, normalised 0-100).
# MAGIC The `evaluate_nab` job does the same on Spark for the whole corpus and writes NAB's results layout.
# MAGIC
# MAGIC Widgets: `corpus` (a NAB checkout), `detectors` (comma-separated names from conf/detectors.yaml;
# MAGIC `default` is the configured default), `files` (comma-separated `category/file.csv` keys; empty: all 58).
# MAGIC Scores on a few files are not comparable with the published scoreboard, shown only for the whole corpus.

# COMMAND ----------

from lakewatch.detectors import available_detectors, get_detector
from lakewatch.evaluation import NabCorpus, default_corpus_path, run_on_nab, score_nab_run
from lakewatch.notebooks import NotebookError, as_list, notebook_params

params = notebook_params(globals(), corpus=str(default_corpus_path()), detectors="default", files="")
corpus_dir = params["corpus"]
detector_names = as_list(params, "detectors") or ["default"]
unknown = sorted(set(detector_names) - set(available_detectors()))
if unknown:
    raise NotebookError(f"detectors {unknown}: expected names from {available_detectors()}")

# COMMAND ----------

# MAGIC %md ## The corpus (or the chosen files)

# COMMAND ----------

import pandas as pd

corpus = NabCorpus.at(corpus_dir).series()
wanted = as_list(params, "files")
if wanted:
    missing = sorted(set(wanted) - {s.key for s in corpus})
    if missing:
        raise NotebookError(f"files {missing}: not in {corpus_dir}/labels/combined_windows.json")
    corpus = [s for s in corpus if s.key in wanted]
display(pd.DataFrame([(s.key, len(s.values)) for s in corpus], columns=["file", "points"]))

# COMMAND ----------

# MAGIC %md ## Score each detector

# COMMAND ----------

rows, runs = [], {}
for name in detector_names:
    run = run_on_nab(corpus_dir, get_detector(name), corpus)
    runs[name] = run
    rows.append({"detector": name, **score_nab_run(corpus_dir, run), "points": run.rows,
                 "points_per_second": round(run.points_per_second)})
nab_scores = pd.DataFrame(rows).sort_values("standard", ascending=False).reset_index(drop=True)
display(nab_scores)

# COMMAND ----------

# MAGIC %md ## Highest score per file (first detector)

# COMMAND ----------

first_run = runs[detector_names[0]]
display(pd.DataFrame([(key, float(frame["anomaly_score"].max()), str(frame.loc[frame["anomaly_score"].idxmax(),
                                                                            "timestamp"]))
                      for key, frame in first_run.frames.items()], columns=["file", "max_score", "at"]))

# COMMAND ----------

# MAGIC %md ## The published scoreboard (whole corpus only)

# COMMAND ----------

from lakewatch.evaluation.spark_run import format_scoreboard, scoreboard

if not wanted:
    print(format_scoreboard(scoreboard(corpus_dir, {r["detector"]: r for r in rows})))
else:
    print(f"{len(corpus)} of the corpus files: no scoreboard (its scores are over all 58 files)")
