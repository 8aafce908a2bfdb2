-- Who changed what, append-only and hash-chained per municipality: each row carries the hash of the
-- previous row of its chain, so removing or editing a row breaks every later hash. System-wide events
-- (venues, devices, users) go to the chain '000000', which is not a municipality.
CREATE TABLE audit_log (
    municipality_code text NOT NULL CHECK (municipality_code ~ '^[0-9]{6}$'),
    seq               bigint NOT NULL,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    actor             text NOT NULL,
    action            text NOT NULL,
    target            text NOT NULL DEFAULT '',
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash         text NOT NULL,
    row_hash          text NOT NULL,
    PRIMARY KEY (municipality_code, seq)
);

-- The hash of a row as text; `audit verify` recomputes it the same way.
CREATE FUNCTION vrs_audit_row_hash(a audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(
        concat_ws(E'\x1f', a.prev_hash, a.municipality_code, a.seq::text,
                  to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  a.actor, a.action, a.target, a.details::text),
        'UTF8')), 'hex')
$$;

CREATE FUNCTION vrs_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last audit_log;
BEGIN
    -- One writer per chain at a time, so two inserts never link to the same previous row.
    PERFORM pg_advisory_xact_lock(hashtext('vrs_audit:' || NEW.municipality_code));
    SELECT * INTO last FROM audit_log WHERE municipality_code = NEW.municipality_code
        ORDER BY seq DESC LIMIT 1;
    IF FOUND THEN
        NEW.seq := last.seq + 1;
        NEW.prev_hash := last.row_hash;
    ELSE
        NEW.seq := 1;
        NEW.prev_hash := repeat('0', 64);
    END IF;
    NEW.row_hash := vrs_audit_row_hash(NEW);
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION vrs_audit_chain();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();
