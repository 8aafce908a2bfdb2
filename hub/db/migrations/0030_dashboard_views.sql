-- Aggregate views for the prefecture and national dashboards (Grafana reads through vrs_reader).
--
-- Counts over personal-data tables need rows of every municipality, which no API or ingest scope may
-- see. So those views belong to vrs_stats: a role nobody logs in as, granted only the columns that are
-- counted, with a read policy of its own. A view runs with its owner's rights, so the reader gets the
-- counts and nothing else; vrs_api and vrs_ingest are not members of vrs_stats and gain nothing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vrs_stats') THEN
        BEGIN
            CREATE ROLE vrs_stats NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by a migration of another database of the cluster
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'vrs_stats', 'MEMBER') THEN
        EXECUTE format('GRANT vrs_stats TO %I', current_user);
    END IF;
END
$$;
-- Owning a view needs CREATE on its schema.
GRANT USAGE, CREATE ON SCHEMA public TO vrs_stats;

GRANT SELECT ON municipalities TO vrs_stats;
GRANT SELECT (municipality_code, status) ON residents TO vrs_stats;
GRANT SELECT (municipality_code, atena_no, dose, status) ON vaccinations TO vrs_stats;
GRANT SELECT (municipality_code, action, occurred_at) ON audit_log TO vrs_stats;
CREATE POLICY stats_count ON residents FOR SELECT TO vrs_stats USING (true);
CREATE POLICY stats_count ON vaccinations FOR SELECT TO vrs_stats USING (true);
CREATE POLICY stats_count ON audit_log FOR SELECT TO vrs_stats USING (true);

-- Days are Japan days; `day_start` is that day's midnight in Tokyo, which Grafana can place on a time axis.
CREATE VIEW agg_doses_daily AS
    SELECT (d.day::timestamp AT TIME ZONE 'Asia/Tokyo') AS day_start, d.day,
           d.prefecture_code, m.prefecture, d.municipality_code, m.name AS municipality,
           d.maker,
           CASE d.maker WHEN 'pfizer' THEN 'ファイザー' WHEN 'moderna' THEN '武田/モデルナ'
                        WHEN 'astrazeneca' THEN 'アストラゼネカ' WHEN 'novavax' THEN '武田/ノババックス'
                        ELSE 'その他' END AS maker_label,
           d.dose, d.status, d.count
    FROM agg_daily d JOIN municipalities m ON m.code = d.municipality_code;

-- Registered residents (active, not moved out or deceased) per municipality.
CREATE VIEW agg_residents AS
    SELECT r.municipality_code, m.prefecture_code, m.prefecture, m.name AS municipality,
           count(*)::bigint AS registered
    FROM residents r JOIN municipalities m ON m.code = r.municipality_code
    WHERE r.status = 'active'
    GROUP BY r.municipality_code, m.prefecture_code, m.prefecture, m.name;
ALTER VIEW agg_residents OWNER TO vrs_stats;

-- Residents vaccinated with each dose (matched records only: an unmatched voucher is nobody yet).
CREATE VIEW agg_coverage AS
    SELECT v.municipality_code, m.prefecture_code, m.prefecture, m.name AS municipality, v.dose,
           count(DISTINCT v.atena_no)::bigint AS vaccinated_residents
    FROM vaccinations v JOIN municipalities m ON m.code = v.municipality_code
    WHERE v.status = 'vaccinated' AND v.atena_no IS NOT NULL
    GROUP BY v.municipality_code, m.prefecture_code, m.prefecture, m.name, v.dose;
ALTER VIEW agg_coverage OWNER TO vrs_stats;

-- Records that need a municipality's look, counted: vouchers not (yet) matched to an uploaded resident.
CREATE VIEW agg_quality AS
    SELECT v.municipality_code, m.prefecture_code, m.name AS municipality,
           count(*) FILTER (WHERE v.atena_no IS NULL)::bigint AS unmatched
    FROM vaccinations v JOIN municipalities m ON m.code = v.municipality_code
    GROUP BY v.municipality_code, m.prefecture_code, m.name;
ALTER VIEW agg_quality OWNER TO vrs_stats;

-- When each municipality last took its records out for its ledger.
CREATE VIEW agg_exports AS
    SELECT a.municipality_code, m.prefecture_code, m.name AS municipality,
           max(a.occurred_at) AS last_export_at
    FROM audit_log a JOIN municipalities m ON m.code = a.municipality_code
    WHERE a.action LIKE 'export%'
    GROUP BY a.municipality_code, m.prefecture_code, m.name;
ALTER VIEW agg_exports OWNER TO vrs_stats;

-- The station fleet (no personal data): state, backlog and when the hub last committed a batch of it.
CREATE VIEW agg_stations AS
    SELECT d.device_id, d.venue_id, v.name AS venue, v.municipality_code, m.prefecture_code,
           m.name AS municipality, d.status AS enrollment,
           coalesce(s.state, 'offline') AS state, coalesce(s.queue_depth, 0) AS queue_depth,
           coalesce(s.version, '') AS version, s.last_seen_at, d.last_batch_at
    FROM devices d
    JOIN venues v ON v.venue_id = d.venue_id
    JOIN municipalities m ON m.code = v.municipality_code
    LEFT JOIN device_status s ON s.device_id = d.device_id;

GRANT SELECT ON agg_doses_daily, agg_residents, agg_coverage, agg_quality, agg_exports, agg_stations
    TO vrs_reader;
