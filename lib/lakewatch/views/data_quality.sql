-- Data quality per run: one row per ops.pipeline_runs run that refined an ingest (pipeline, refine) or validated
-- silver (validate), with where its bronze rows went, whether they balance, and its validation result.
-- Columns: run_id, job, started_at, status, ingest_id, bronze_rows, silver_rows, quarantined, duplicates,
-- balanced (bronze_rows = silver_rows + quarantined + duplicates; null without refine counts), suite,
-- validation_success, expectations_evaluated, expectations_failed, data_docs.
-- The counts come from the run's details (pipeline: {"refine": {...}}; refine: the report at the top level).
-- get_json_object is Spark's; DuckDB gets it as a macro (lakewatch/readers/spark_functions.sql).
SELECT d.run_id, d.job, d.started_at, d.status, d.ingest_id, d.bronze_rows, d.silver_rows, d.quarantined,
       d.duplicates,
       d.bronze_rows = d.silver_rows + d.quarantined + d.duplicates AS balanced,
       v.suite, v.success AS validation_success, v.expectations_evaluated, v.expectations_failed, v.data_docs
FROM (
    SELECT r.run_id, r.job, r.started_at, r.status,
           coalesce(get_json_object(r.details, '$.ingest_id'),
                    get_json_object(r.details, '$.refine.ingest_id')) AS ingest_id,
           TRY_CAST(coalesce(get_json_object(r.details, '$.refine.bronze_rows'),
                             get_json_object(r.details, '$.bronze_rows')) AS BIGINT) AS bronze_rows,
           TRY_CAST(coalesce(get_json_object(r.details, '$.refine.silver_rows'),
                             get_json_object(r.details, '$.silver_rows')) AS BIGINT) AS silver_rows,
           TRY_CAST(coalesce(get_json_object(r.details, '$.refine.quarantined'),
                             get_json_object(r.details, '$.quarantined')) AS BIGINT) AS quarantined,
           TRY_CAST(coalesce(get_json_object(r.details, '$.refine.duplicates'),
                             get_json_object(r.details, '$.duplicates')) AS BIGINT) AS duplicates
    FROM ${ops_pipeline_runs} r
) d
LEFT JOIN ${ops_validation_runs} v ON v.run_id = d.run_id
WHERE d.bronze_rows IS NOT NULL OR v.run_id IS NOT NULL
