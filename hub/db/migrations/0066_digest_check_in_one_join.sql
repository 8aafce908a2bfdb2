-- The digest check of 0064 in one anti-join whatever the number of municipalities a statement writes: one
-- query per municipality read all of the statement's digests each time, which for a bulk load spread over
-- hundreds of municipalities (old data moved in by hand, the inquiry benchmark) made the check quadratic.
-- The usual statement writes one municipality's digests: its code goes in as a literal, so the planner reads
-- that municipality's partition only. A list of codes (= ANY) would make every index probe of the join
-- search the list. No LIMIT either: it would talk the planner into probing the index once per digest, the
-- plan for a join expected to stop at its first row, where a hash join is cheaper for a large file.
CREATE OR REPLACE FUNCTION vrs_my_number_resident_known() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, public AS $$
DECLARE
    codes text[];
    code text;
    orphan text;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        SELECT NEW.atena_no INTO orphan WHERE NOT EXISTS (SELECT 1 FROM residents r
            WHERE r.municipality_code = NEW.municipality_code AND r.atena_no = NEW.atena_no);
        code := NEW.municipality_code;
    ELSE
        SELECT array_agg(DISTINCT n.municipality_code) INTO codes FROM new_rows n;
        EXECUTE format('SELECT n.municipality_code, n.atena_no FROM new_rows n WHERE NOT EXISTS (SELECT 1'
                       ' FROM residents r WHERE r.municipality_code = %s AND r.atena_no = n.atena_no)',
                       CASE WHEN cardinality(codes) = 1 THEN quote_literal(codes[1]) ELSE 'n.municipality_code' END)
            INTO code, orphan;
    END IF;
    IF orphan IS NOT NULL THEN
        RAISE EXCEPTION 'my_number_hashes: no resident % of municipality % for this digest', quote_literal(orphan),
            code USING ERRCODE = 'foreign_key_violation', TABLE = 'my_number_hashes';
    END IF;
    RETURN NULL;
END
$$;
