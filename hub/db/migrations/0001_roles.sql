-- The three non-owner roles every process switches to (SET ROLE) right after connecting. Roles are
-- cluster-wide, so creating them must tolerate another database of the same cluster having done it first.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vrs_api', 'vrs_ingest', 'vrs_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by a migration of another database
            END;
        END IF;
        -- The owner must be able to SET ROLE to each of them.
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', r, current_user);
        END IF;
    END LOOP;
END
$$;

-- The scope of the current transaction, set by hub.db.scoped with set_config(..., true). An unset setting
-- reads as '' so that "no scope" matches no policy.
CREATE FUNCTION vrs_scope() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('vrs.scope', true), '') $$;
CREATE FUNCTION vrs_scope_municipality() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('vrs.municipality_code', true), '') $$;
CREATE FUNCTION vrs_scope_venue() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('vrs.venue_id', true), '') $$;

-- Append-only tables refuse UPDATE and DELETE whatever the grants say.
CREATE FUNCTION vrs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
