-- Why a municipality corrected or deleted a record. The new version itself is an ordinary row of
-- vaccination_history (read_source 'correction'); this table ties it to the reason and the person, so the
-- resident page can show both next to the old version. Append-only, like the history.
CREATE TABLE record_corrections (
    municipality_code  text NOT NULL REFERENCES municipalities (code),
    record_id          uuid NOT NULL,
    replaces_record_id uuid,
    kind               text NOT NULL CHECK (kind IN ('correct', 'delete')),
    reason             text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    actor              text NOT NULL,
    corrected_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, record_id)
);
CREATE TRIGGER record_corrections_append_only BEFORE UPDATE OR DELETE ON record_corrections
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

ALTER TABLE record_corrections ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_corrections FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON record_corrections FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());

REVOKE ALL ON record_corrections FROM PUBLIC;
GRANT SELECT, INSERT ON record_corrections TO vrs_api;
