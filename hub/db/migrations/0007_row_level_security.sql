-- Tenant isolation. Every table holding personal data has RLS enabled and forced (the owner too), and a
-- policy only matches when the transaction set a scope (hub.db.scoped): no scope, no rows.
--   municipality: its own rows, read and write
--   venue:        vaccination rows recorded at its venue (any municipality, Q31), read only; no residents
--   ingest:       write vaccinations and history of any municipality, read residents for matching
--   operator:     no personal data at all
ALTER TABLE residents ENABLE ROW LEVEL SECURITY;
ALTER TABLE residents FORCE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes ENABLE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes FORCE ROW LEVEL SECURITY;
ALTER TABLE vaccinations ENABLE ROW LEVEL SECURITY;
ALTER TABLE vaccinations FORCE ROW LEVEL SECURITY;
ALTER TABLE vaccination_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE vaccination_history FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY municipality_all ON residents FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY ingest_read ON residents FOR SELECT TO vrs_ingest
    USING (vrs_scope() = 'ingest');

CREATE POLICY municipality_all ON my_number_hashes FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());

CREATE POLICY municipality_all ON vaccinations FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY venue_read ON vaccinations FOR SELECT TO vrs_api
    USING (vrs_scope() = 'venue' AND venue_id = vrs_scope_venue());
CREATE POLICY ingest_all ON vaccinations FOR ALL TO vrs_ingest
    USING (vrs_scope() = 'ingest') WITH CHECK (vrs_scope() = 'ingest');

CREATE POLICY municipality_all ON vaccination_history FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY venue_read ON vaccination_history FOR SELECT TO vrs_api
    USING (vrs_scope() = 'venue' AND venue_id = vrs_scope_venue());
CREATE POLICY ingest_all ON vaccination_history FOR ALL TO vrs_ingest
    USING (vrs_scope() = 'ingest') WITH CHECK (vrs_scope() = 'ingest');

CREATE POLICY municipality_all ON audit_log FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY operator_all ON audit_log FOR ALL TO vrs_api
    USING (vrs_scope() = 'operator' AND municipality_code = '000000')
    WITH CHECK (vrs_scope() = 'operator' AND municipality_code = '000000');
