-- Open anomaly events: the events of gold.anomalies the detector has not closed yet (one row per event).
-- Columns: series_id, channel, start, end, peak_at, peak_score, points, threshold, detector, model_version,
-- updated_at.
-- Written in the SQL that Spark SQL and DuckDB both accept; tables are placeholders filled by lakewatch.views.render.
SELECT a.series_id, a.channel, a.start, a.end, a.peak_at, a.peak_score, a.points, a.threshold,
       a.detector, a.model_version, a.updated_at
FROM ${gold_anomalies} a
WHERE a.is_open
