-- Links a municipality hands to a resident so they can fetch their own certificate without an account.
-- The link is "<municipality_code>.<random>"; only the SHA-256 of the random part is stored. The resident's
-- request opens the municipality scope named in the link, so the row is found under the same RLS policy as
-- every other personal-data row of that municipality.
CREATE TABLE certificate_links (
    municipality_code text NOT NULL REFERENCES municipalities (code),
    link_hash         bytea NOT NULL,
    atena_no          text NOT NULL,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    uses              integer NOT NULL DEFAULT 0,
    PRIMARY KEY (municipality_code, link_hash),
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents
);
ALTER TABLE certificate_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE certificate_links FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON certificate_links FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
REVOKE ALL ON certificate_links FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON certificate_links TO vrs_api;
