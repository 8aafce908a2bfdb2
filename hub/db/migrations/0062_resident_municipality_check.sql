-- A resident's municipality is checked once per statement instead of once per row. The foreign key looked
-- up (and locked) the municipality for every inserted resident, some 11 µs a row: a sixth of a large city's
-- first import. Municipality codes are permanent (the packaged list only adds municipalities or refreshes
-- their names), so the referenced side refuses deleting one or changing its code outright, and the check
-- needs no lock to stay true until commit.
ALTER TABLE residents DROP CONSTRAINT residents_municipality_code_fkey;

-- Owner's rights: the check must not depend on what the inserting role may read.
CREATE FUNCTION vrs_resident_municipality_known() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
DECLARE
    unknown text;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        SELECT NEW.municipality_code INTO unknown
        WHERE NOT EXISTS (SELECT 1 FROM municipalities m WHERE m.code = NEW.municipality_code);
    ELSE
        SELECT d.code INTO unknown FROM (SELECT DISTINCT municipality_code AS code FROM new_rows) d
        WHERE NOT EXISTS (SELECT 1 FROM municipalities m WHERE m.code = d.code) LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'residents: municipality code % is not in municipalities', quote_literal(unknown)
            USING ERRCODE = 'foreign_key_violation', TABLE = 'residents', COLUMN = 'municipality_code';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER residents_municipality_known AFTER INSERT ON residents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_resident_municipality_known();
-- Row by row for updates: nothing moves a resident to another municipality, and a statement trigger with a
-- transition table would copy every row of every update (the imports' and the moves') to test none.
CREATE TRIGGER residents_municipality_known_on_update AFTER UPDATE OF municipality_code ON residents
    FOR EACH ROW WHEN (OLD.municipality_code IS DISTINCT FROM NEW.municipality_code)
    EXECUTE FUNCTION vrs_resident_municipality_known();

CREATE FUNCTION vrs_municipality_code_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'municipalities: codes are permanent (residents and records name them); % refused', TG_OP
        USING ERRCODE = 'restrict_violation', TABLE = 'municipalities';
END
$$;
CREATE TRIGGER municipalities_not_deleted BEFORE DELETE ON municipalities
    FOR EACH ROW EXECUTE FUNCTION vrs_municipality_code_permanent();
CREATE TRIGGER municipalities_code_permanent BEFORE UPDATE OF code ON municipalities
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION vrs_municipality_code_permanent();
CREATE TRIGGER municipalities_not_truncated BEFORE TRUNCATE ON municipalities
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_municipality_code_permanent();
