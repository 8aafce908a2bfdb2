-- One-time station enrollment tokens a municipal admin hands to a field engineer: `vrs-provision` redeems
-- one with the station's device id and public key, which registers the station on the token's venue.
-- Only a SHA-256 of the token is stored; a token works once, before it expires, unless revoked.
CREATE TABLE enrollment_tokens (
    token_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE,
    venue_id        text NOT NULL REFERENCES venues (venue_id),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_by_device  text,
    revoked_at      timestamptz,
    CHECK ((used_at IS NULL) = (used_by_device IS NULL)),
    CHECK (expires_at > created_at)
);
CREATE INDEX enrollment_tokens_venue ON enrollment_tokens (venue_id);

REVOKE ALL ON enrollment_tokens FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON enrollment_tokens TO vrs_api;
