-- Quarantined rows by ingest, stage and reason (the stream's late rows have stage 'stream' and no ingest_id).
-- Join data_quality on ingest_id for the run that refined an ingest.
-- Columns: ingest_id, stage, reason, quarantined_rows, series, first_quarantined_at, last_quarantined_at.
SELECT q.ingest_id, q.stage, q.reason, count(*) AS quarantined_rows, count(DISTINCT q.series_id) AS series,
       min(q.quarantined_at) AS first_quarantined_at, max(q.quarantined_at) AS last_quarantined_at
FROM ${silver_quarantine} q
GROUP BY q.ingest_id, q.stage, q.reason
