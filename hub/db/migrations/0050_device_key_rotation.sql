-- A station's key can be replaced without losing what its outbox signed with the old one: the old key keeps
-- verifying until previous_key_retires_at (set by `vrs-hub device rotate-key`, read by the ingest).
ALTER TABLE devices
    ADD COLUMN previous_public_key_pem text,
    ADD COLUMN previous_key_retires_at timestamptz,
    ADD CONSTRAINT devices_previous_key_whole
        CHECK ((previous_public_key_pem IS NULL) = (previous_key_retires_at IS NULL));
