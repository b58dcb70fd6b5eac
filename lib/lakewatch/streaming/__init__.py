"""Structured Streaming scoring: readings -> per-series detector state (Spark state store) -> gold.anomaly_scores,
gold.anomalies and silver.quarantine, exactly once. Entry point: :func:`lakewatch.streaming.job.run_score_stream`.
"""
