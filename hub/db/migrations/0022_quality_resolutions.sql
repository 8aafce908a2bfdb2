-- How a municipality dealt with a record on its data-quality page: matched to a resident, corrected, or
-- dismissed with a reason. Keyed by the record version: a correction makes a new version, which is looked
-- at afresh. Append-only; each row is also an audit row.
CREATE TABLE quality_resolutions (
    municipality_code text NOT NULL REFERENCES municipalities (code),
    kind              text NOT NULL CHECK (kind IN ('unmatched_voucher', 'dose_order', 'dose_interval',
                                                   'resident_moved_out', 'resident_deceased', 'impossible_date')),
    record_id         uuid NOT NULL,
    resolution        text NOT NULL CHECK (resolution IN ('matched', 'corrected', 'dismissed')),
    reason            text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    atena_no          text,
    actor             text NOT NULL,
    resolved_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, kind, record_id)
);
CREATE TRIGGER quality_resolutions_append_only BEFORE UPDATE OR DELETE ON quality_resolutions
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

ALTER TABLE quality_resolutions ENABLE ROW LEVEL SECURITY;
ALTER TABLE quality_resolutions FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON quality_resolutions FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());

REVOKE ALL ON quality_resolutions FROM PUBLIC;
GRANT SELECT, INSERT ON quality_resolutions TO vrs_api;
