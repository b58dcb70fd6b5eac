-- DuckDB macros giving DuckDB the few Spark SQL functions lakewatch's views use, so that one .sql file serves both.
CREATE OR REPLACE MACRO explode(list) AS unnest(list);
CREATE OR REPLACE MACRO get_json_object(json_text, path) AS json_extract_string(json_text, path);
CREATE OR REPLACE MACRO unix_seconds(ts) AS CAST(floor(epoch(ts)) AS BIGINT);
CREATE OR REPLACE MACRO sha2(text, bits) AS sha256(text);
CREATE OR REPLACE MACRO unix_micros(ts) AS epoch_us(ts);
