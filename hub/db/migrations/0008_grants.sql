-- What each role may touch at all; the policies of 0007 then narrow personal data to the scope.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO vrs_api, vrs_ingest, vrs_reader;

GRANT SELECT ON municipalities TO vrs_api, vrs_ingest;
GRANT SELECT, INSERT, UPDATE ON venues, devices TO vrs_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON device_status TO vrs_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON residents, my_number_hashes, vaccinations TO vrs_api;
GRANT SELECT, INSERT ON vaccination_history, audit_log TO vrs_api;
GRANT SELECT, INSERT ON seen_records TO vrs_api;
GRANT SELECT, INSERT, UPDATE ON hourly_aggregates TO vrs_api;

GRANT SELECT ON venues TO vrs_ingest;
GRANT SELECT, UPDATE (last_batch_seq, last_batch_at) ON devices TO vrs_ingest;
GRANT SELECT, INSERT, UPDATE ON device_status TO vrs_ingest;
GRANT SELECT ON residents TO vrs_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON vaccinations TO vrs_ingest;
GRANT SELECT, INSERT ON vaccination_history, seen_records TO vrs_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON hourly_aggregates TO vrs_ingest;

GRANT SELECT ON agg_hourly, agg_daily, agg_municipalities TO vrs_reader;
