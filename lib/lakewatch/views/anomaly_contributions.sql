-- Anomaly events with their SHAP contributions, one row per event and input (events without attributions have
-- no row). input_rank is 1 for the input with the largest absolute contribution.
-- Columns: series_id, channel, start, peak_at, peak_score, is_open, detector, model_version, base_value,
-- input, shap, input_rank.
-- explode is Spark's; DuckDB gets it as a macro over unnest (lakewatch/readers/spark_functions.sql).
SELECT p.series_id, p.channel, p.start, p.peak_at, p.peak_score, p.is_open, p.detector, p.model_version,
       p.base_value, p.input, p.shap,
       row_number() OVER (PARTITION BY p.series_id, p.channel, p.start, p.detector, p.model_version
                          ORDER BY abs(p.shap) DESC, p.input) AS input_rank
FROM (
    SELECT e.series_id, e.channel, e.start, e.peak_at, e.peak_score, e.is_open, e.detector, e.model_version,
           e.base_value, e.contribution.input AS input, e.contribution.shap AS shap
    FROM (
        SELECT a.series_id, a.channel, a.start, a.peak_at, a.peak_score, a.is_open, a.detector, a.model_version,
               a.base_value, explode(a.top_inputs) AS contribution
        FROM ${gold_anomalies} a
    ) e
) p
