-- Vaccination certificates (SMART Health Cards). issued_certificates holds who got which card and which
-- dose records it listed, so that correcting or voiding a record revokes every card that included it.
-- revoked_rids is what the public revocation list per issuer key (/.well-known/crl/{kid}.json) serves: a
-- rid is 64 random bits that say nothing about anyone, so that table carries no personal data and no RLS.
CREATE TABLE issued_certificates (
    municipality_code text NOT NULL REFERENCES municipalities (code),
    certificate_id    uuid NOT NULL,
    atena_no          text NOT NULL,
    kid               text NOT NULL,
    rid               text NOT NULL CHECK (rid ~ '^[A-Za-z0-9_-]{1,24}$'),
    issuer            text NOT NULL,
    issued_at         timestamptz NOT NULL,
    issued_by         text NOT NULL,
    revoked_at        timestamptz,
    revoked_reason    text,
    PRIMARY KEY (municipality_code, certificate_id),
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents,
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE UNIQUE INDEX issued_certificates_rid ON issued_certificates (kid, rid);
CREATE INDEX issued_certificates_resident ON issued_certificates (municipality_code, atena_no);

-- The dose records (current-state key and the record_id of the version put on the card) each card lists.
CREATE TABLE issued_certificate_doses (
    municipality_code text NOT NULL,
    certificate_id    uuid NOT NULL,
    voucher_no        text NOT NULL,
    dose              smallint NOT NULL,
    record_id         uuid NOT NULL,
    PRIMARY KEY (municipality_code, certificate_id, voucher_no, dose),
    FOREIGN KEY (municipality_code, certificate_id) REFERENCES issued_certificates ON DELETE CASCADE
);
CREATE INDEX issued_certificate_doses_key ON issued_certificate_doses (municipality_code, voucher_no, dose);

CREATE TABLE revoked_rids (
    kid        text NOT NULL,
    rid        text NOT NULL CHECK (rid ~ '^[A-Za-z0-9_-]{1,24}(\.[0-9]+)?$'),
    revoked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kid, rid)
);
CREATE TRIGGER revoked_rids_append_only BEFORE UPDATE OR DELETE ON revoked_rids
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

ALTER TABLE issued_certificates ENABLE ROW LEVEL SECURITY;
ALTER TABLE issued_certificates FORCE ROW LEVEL SECURITY;
ALTER TABLE issued_certificate_doses ENABLE ROW LEVEL SECURITY;
ALTER TABLE issued_certificate_doses FORCE ROW LEVEL SECURITY;

CREATE POLICY municipality_all ON issued_certificates FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
-- The ingest revokes the cards of records a station overwrites or voids.
CREATE POLICY ingest_revoke ON issued_certificates FOR SELECT TO vrs_ingest
    USING (vrs_scope() = 'ingest');
CREATE POLICY ingest_revoke_update ON issued_certificates FOR UPDATE TO vrs_ingest
    USING (vrs_scope() = 'ingest') WITH CHECK (vrs_scope() = 'ingest');

CREATE POLICY municipality_all ON issued_certificate_doses FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY ingest_read ON issued_certificate_doses FOR SELECT TO vrs_ingest
    USING (vrs_scope() = 'ingest');

REVOKE ALL ON issued_certificates, issued_certificate_doses, revoked_rids FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON issued_certificates TO vrs_api;
GRANT SELECT, INSERT ON issued_certificate_doses TO vrs_api;
GRANT SELECT, INSERT ON revoked_rids TO vrs_api;
GRANT SELECT, UPDATE (revoked_at, revoked_reason) ON issued_certificates TO vrs_ingest;
GRANT SELECT ON issued_certificate_doses TO vrs_ingest;
GRANT SELECT, INSERT ON revoked_rids TO vrs_ingest;
