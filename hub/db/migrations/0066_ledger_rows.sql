-- Each person's row of the ledger export, kept between exports, so that an export reads one stored row per
-- person instead of building every row from the records again (hub.db.ledger).
--   ledger_rows   the row as the export writes it (CSV, UTF-8, no line end) up to the person's highest dose;
--                 the export pads it with empty cells up to the municipality's highest dose.
--   ledger_stale  people whose row may no longer be right: every statement that changes vaccinated, matched
--                 records (or a venue such records name) adds a row per municipality, holding the 宛名番号 of
--                 the people it touched, in the transaction of the change. One row per statement, not per
--                 person, keeps the mark to a small part of a batch's cost (a mark per person took a bulk
--                 insert of matched records from 1.4-1.7 s to 2.9 s per 100,000). An export builds the
--                 rows of the people marked stale from their records, in its own snapshot, and stores them
--                 again when it starts (hub.db.ledger.refresh), so the stored rows are only ever a shortcut.
CREATE TABLE ledger_rows (
    municipality_code text NOT NULL,
    atena_no text NOT NULL,
    doses smallint NOT NULL CHECK (doses BETWEEN 1 AND 9),
    line text NOT NULL,
    PRIMARY KEY (municipality_code, atena_no)
);
CREATE TABLE ledger_stale (
    municipality_code text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    atena_nos text[] NOT NULL,
    PRIMARY KEY (municipality_code, id)
);

ALTER TABLE ledger_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_rows FORCE ROW LEVEL SECURITY;
ALTER TABLE ledger_stale ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_stale FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON ledger_rows FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY municipality_all ON ledger_stale FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
GRANT SELECT, INSERT, UPDATE, DELETE ON ledger_rows TO vrs_api;
-- Marks are added only by the triggers below, as the owner; an export reads and clears its own.
GRANT SELECT, DELETE ON ledger_stale TO vrs_api;

-- The marks of a statement's changed records, for every role that may change records (ingest, the API, the
-- move-in inquiry), which need no right on ledger_stale: hence SECURITY DEFINER. Records that are not
-- vaccinated or not matched to a 宛名番号 have no place in the ledger, before or after the change.
CREATE FUNCTION vrs_ledger_mark_records() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.ledger_stale (municipality_code, atena_nos)
            SELECT n.municipality_code, array_agg(DISTINCT n.atena_no) FROM new_rows n
            WHERE n.status = 'vaccinated' AND n.atena_no IS NOT NULL GROUP BY n.municipality_code;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO public.ledger_stale (municipality_code, atena_nos)
            SELECT c.municipality_code, array_agg(DISTINCT c.atena_no) FROM (
                SELECT n.municipality_code, n.atena_no FROM new_rows n WHERE n.status = 'vaccinated'
                UNION ALL SELECT o.municipality_code, o.atena_no FROM old_rows o WHERE o.status = 'vaccinated') c
            WHERE c.atena_no IS NOT NULL GROUP BY c.municipality_code;
    ELSE
        INSERT INTO public.ledger_stale (municipality_code, atena_nos)
            SELECT o.municipality_code, array_agg(DISTINCT o.atena_no) FROM old_rows o
            WHERE o.status = 'vaccinated' AND o.atena_no IS NOT NULL GROUP BY o.municipality_code;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER vaccinations_ledger_inserted AFTER INSERT ON vaccinations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_ledger_mark_records();
CREATE TRIGGER vaccinations_ledger_updated AFTER UPDATE ON vaccinations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION vrs_ledger_mark_records();
CREATE TRIGGER vaccinations_ledger_deleted AFTER DELETE ON vaccinations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_ledger_mark_records();

-- A venue's name and municipality are cells of the rows of everyone vaccinated there, in any municipality;
-- a venue registered after its records, or removed, changes what those cells fall back to.
CREATE FUNCTION vrs_ledger_mark_at(p_venues text[]) RETURNS void LANGUAGE sql
    SET search_path = pg_catalog, public AS $$
    INSERT INTO public.ledger_stale (municipality_code, atena_nos)
        SELECT v.municipality_code, array_agg(DISTINCT v.atena_no) FROM public.vaccinations v
        WHERE v.venue_id = ANY (p_venues) AND v.status = 'vaccinated' AND v.atena_no IS NOT NULL
        GROUP BY v.municipality_code;
$$;
REVOKE ALL ON FUNCTION vrs_ledger_mark_at(text[]) FROM PUBLIC;
CREATE FUNCTION vrs_ledger_mark_venues() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM public.vrs_ledger_mark_at(ARRAY(SELECT venue_id FROM changed_venues));
    RETURN NULL;
END
$$;
CREATE FUNCTION vrs_ledger_mark_changed_venues() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM public.vrs_ledger_mark_at(ARRAY(
        SELECT o.venue_id FROM old_rows o JOIN new_rows n USING (venue_id)
            WHERE (o.name, o.municipality_code) IS DISTINCT FROM (n.name, n.municipality_code)
        UNION SELECT o.venue_id FROM old_rows o WHERE o.venue_id NOT IN (SELECT venue_id FROM new_rows)
        UNION SELECT n.venue_id FROM new_rows n WHERE n.venue_id NOT IN (SELECT venue_id FROM old_rows)));
    RETURN NULL;
END
$$;
CREATE TRIGGER venues_ledger_inserted AFTER INSERT ON venues
    REFERENCING NEW TABLE AS changed_venues FOR EACH STATEMENT EXECUTE FUNCTION vrs_ledger_mark_venues();
CREATE TRIGGER venues_ledger_deleted AFTER DELETE ON venues
    REFERENCING OLD TABLE AS changed_venues FOR EACH STATEMENT EXECUTE FUNCTION vrs_ledger_mark_venues();
CREATE TRIGGER venues_ledger_updated AFTER UPDATE ON venues
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION vrs_ledger_mark_changed_venues();

-- No records, no rows. (Venues cannot be truncated while records name them: the records' foreign key.)
CREATE FUNCTION vrs_ledger_forget_all() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    TRUNCATE public.ledger_rows, public.ledger_stale;
    RETURN NULL;
END
$$;
CREATE TRIGGER vaccinations_ledger_truncated AFTER TRUNCATE ON vaccinations
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_ledger_forget_all();

-- Statistics renewed after a refresh that rebuilt many rows (hub.db.ledger.refresh): only the owner may
-- analyze, and until autovacuum comes by, the planner would take a freshly filled table for an empty one.
CREATE FUNCTION vrs_ledger_analyze() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    ANALYZE public.ledger_rows, public.ledger_stale;
END
$$;
REVOKE ALL ON FUNCTION vrs_ledger_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_ledger_analyze() TO vrs_api;

-- Records already there: everyone with a vaccinated, matched record is stale, and the municipality's next
-- export builds the rows.
INSERT INTO ledger_stale (municipality_code, atena_nos)
    SELECT municipality_code, array_agg(DISTINCT atena_no) FROM vaccinations
    WHERE status = 'vaccinated' AND atena_no IS NOT NULL GROUP BY municipality_code;
