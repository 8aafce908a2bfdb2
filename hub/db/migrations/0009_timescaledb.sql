-- When TimescaleDB is installed and preloaded, the history becomes a hypertable on scanned_at. A
-- hypertable's unique keys must hold the time column, so its primary key gains scanned_at; record_id
-- stays unique through seen_records. Plain PostgreSQL skips all of this.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        ALTER TABLE vaccination_history DROP CONSTRAINT vaccination_history_pkey;
        ALTER TABLE vaccination_history ADD PRIMARY KEY (municipality_code, record_id, scanned_at);
        PERFORM create_hypertable('vaccination_history', 'scanned_at', migrate_data => true,
                                  chunk_time_interval => interval '7 days');
    END IF;
END
$$;
