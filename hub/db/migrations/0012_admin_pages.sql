-- What keeps the admin pages fast on a large municipality.
-- Coverage needs a pass over all residents and their doses; the residents page shows a copy at most a
-- minute old (recomputed by whichever request finds it stale; imports and corrections drop it at once).
CREATE TABLE coverage_cache (
    municipality_code text PRIMARY KEY REFERENCES municipalities (code),
    computed_at       timestamptz NOT NULL,
    residents         bigint NOT NULL,
    by_dose           jsonb NOT NULL,
    unmatched_records bigint NOT NULL
);
ALTER TABLE coverage_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE coverage_cache FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON coverage_cache FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
REVOKE ALL ON coverage_cache FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON coverage_cache TO vrs_api;

-- Search by the start of a kana name (LIKE 'ヤマダ%') whatever the database's collation.
CREATE INDEX residents_kana_prefix ON residents (municipality_code, name_kana_norm text_pattern_ops);
