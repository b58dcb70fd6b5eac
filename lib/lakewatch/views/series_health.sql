-- Health of every series (one row per series_id and channel seen in silver.readings, gold.anomaly_scores or
-- silver.quarantine): its last reading, its last score, how fresh it is, its anomalies and quarantined rows.
-- Columns: series_id, channel, readings, last_reading_at, last_value, last_scored_at, last_score, last_flag,
-- freshness_seconds (now minus the later of last_reading_at and last_scored_at), anomalies_24h (events that
-- started in the last 24 hours), open_anomalies, quarantined_rows.
-- A multichannel entity (a machine, scored under channel '*') has a row of its own beside its channels' rows:
-- readings counts the readings of all its channels, last_reading_at is the newest of them, last_value is null
-- (no single value), quarantined_rows counts all its channels' quarantined readings.
-- unix_seconds is Spark's; DuckDB gets it as a macro (lakewatch/readers/spark_functions.sql).
WITH readings AS (
    SELECT r.series_id, r.channel, count(*) AS readings, max(r.timestamp) AS last_reading_at,
           max_by(r.value, r.timestamp) AS last_value
    FROM ${silver_readings} r
    GROUP BY r.series_id, r.channel
), entity_readings AS (
    -- only joined to the '*' rows, which exist only for series scored as entities
    SELECT series_id, '*' AS channel, CAST(sum(readings) AS BIGINT) AS readings, max(last_reading_at) AS last_reading_at,
           CAST(NULL AS DOUBLE) AS last_value
    FROM readings
    GROUP BY series_id
), scores AS (
    SELECT s.series_id, s.channel, max(s.timestamp) AS last_scored_at, max_by(s.score, s.timestamp) AS last_score,
           max_by(s.flag, s.timestamp) AS last_flag
    FROM ${gold_anomaly_scores} s
    GROUP BY s.series_id, s.channel
), events AS (
    SELECT a.series_id, a.channel,
           sum(CASE WHEN a.start >= current_timestamp - INTERVAL 24 HOURS THEN 1 ELSE 0 END) AS anomalies_24h,
           sum(CASE WHEN a.is_open THEN 1 ELSE 0 END) AS open_anomalies
    FROM ${gold_anomalies} a
    GROUP BY a.series_id, a.channel
), quarantined AS (
    SELECT q.series_id, q.channel, count(*) AS quarantined_rows
    FROM ${silver_quarantine} q
    WHERE q.series_id IS NOT NULL AND q.channel IS NOT NULL
    GROUP BY q.series_id, q.channel
), entity_quarantined AS (
    SELECT series_id, '*' AS channel, CAST(sum(quarantined_rows) AS BIGINT) AS quarantined_rows
    FROM quarantined
    GROUP BY series_id
), series AS (
    SELECT series_id, channel FROM readings
    UNION SELECT series_id, channel FROM scores
    UNION SELECT series_id, channel FROM quarantined
)
SELECT k.series_id, k.channel,
       coalesce(r.readings, 0) AS readings, r.last_reading_at, r.last_value,
       s.last_scored_at, s.last_score, s.last_flag,
       unix_seconds(current_timestamp)
           - unix_seconds(CASE WHEN s.last_scored_at IS NULL OR r.last_reading_at >= s.last_scored_at
                               THEN r.last_reading_at ELSE s.last_scored_at END) AS freshness_seconds,
       CAST(coalesce(e.anomalies_24h, 0) AS BIGINT) AS anomalies_24h,
       CAST(coalesce(e.open_anomalies, 0) AS BIGINT) AS open_anomalies,
       coalesce(q.quarantined_rows, 0) AS quarantined_rows
FROM series k
LEFT JOIN (SELECT * FROM readings UNION ALL SELECT * FROM entity_readings) r
    ON r.series_id = k.series_id AND r.channel = k.channel
LEFT JOIN scores s ON s.series_id = k.series_id AND s.channel = k.channel
LEFT JOIN events e ON e.series_id = k.series_id AND e.channel = k.channel
LEFT JOIN (SELECT * FROM quarantined UNION ALL SELECT * FROM entity_quarantined) q
    ON q.series_id = k.series_id AND q.channel = k.channel
