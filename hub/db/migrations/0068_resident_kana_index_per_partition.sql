-- A municipality's own partition orders its residents for kana search by the kana and 宛名番号 alone: all
-- its rows have one municipality code, which as the index's first column only lengthened every comparison
-- of a first import's sort (0.39-0.47 s against 0.48-0.62 s for 200,000 residents). So the kana index is no
-- longer the parent's, which would have to be the same on every partition: each partition has its own, the
-- DEFAULT one, holding many municipalities, with the code first as before. Searches and the move-in inquiry
-- name the parent with one municipality's code; the planner reads that municipality's partition alone,
-- through the partition's own index (tests/hub/test_resident_search.py holds both to reading a page in index
-- order).
DROP INDEX residents_kana_c;
CREATE INDEX residents_default_kana_c ON residents_default
    (municipality_code, (name_kana_norm COLLATE "C"), atena_no);
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'public.residents'::regclass AND c.relname <> 'residents_default' LOOP
        EXECUTE format('CREATE INDEX %I ON public.%I ((name_kana_norm COLLATE "C"), atena_no)', part || '_kana_c', part);
    END LOOP;
END
$$;

-- vrs_resident_partition_attach of 0065, building the partition's own kana index.
CREATE OR REPLACE FUNCTION vrs_resident_partition_attach(p_code text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    -- The digest check as one hash join, not an index probe per digest, whatever the small sample says.
    SET enable_nestloop = off
    -- A tenth of the usual sample: enough for the planner to know the partition holds one municipality and
    -- one row per resident, until autovacuum analyzes it in full.
    SET default_statistics_target = 10 AS $$
DECLARE
    residents_part text := 'residents_' || p_code;
    digests_part text := 'my_number_hashes_' || p_code;
    orphan text;
BEGIN
    PERFORM vrs_resident_partition_check(p_code);
    IF to_regclass(format('public.%I', residents_part)) IS NULL
       OR (SELECT c.relispartition FROM pg_class c WHERE c.oid = format('public.%I', residents_part)::regclass) THEN
        RAISE EXCEPTION 'no unattached residents table of municipality % (vrs_resident_partition_open first)', p_code
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('REVOKE ALL ON public.%I, public.%I FROM vrs_api', residents_part, digests_part);
    -- The parents' indexes, built once over the loaded rows; ATTACH adopts them instead of building its own.
    -- The kana index is the partition's own (migration 0068).
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (municipality_code, atena_no)',
                   residents_part, residents_part || '_pkey');
    EXECUTE format('CREATE UNIQUE INDEX %I ON public.%I (municipality_code, voucher_no) WHERE voucher_no IS NOT NULL',
                   residents_part || '_voucher', residents_part);
    EXECUTE format('CREATE INDEX %I ON public.%I ((name_kana_norm COLLATE "C"), atena_no)',
                   residents_part || '_kana_c', residents_part);
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (municipality_code, atena_no)',
                   digests_part, digests_part || '_pkey');
    EXECUTE format('CREATE INDEX %I ON public.%I (hmac)', digests_part || '_hmac', digests_part);
    EXECUTE format('ANALYZE public.%I (municipality_code, atena_no, voucher_no, status), public.%I (municipality_code,'
                   ' atena_no)', residents_part, digests_part);
    -- Every digest names a resident of the file: what the parent's trigger checks for an insert through it.
    EXECUTE format('SELECT h.atena_no FROM public.%I h WHERE NOT EXISTS (SELECT 1 FROM public.%I r'
                   ' WHERE r.atena_no = h.atena_no) LIMIT 1', digests_part, residents_part) INTO orphan;
    IF orphan IS NOT NULL THEN
        RAISE EXCEPTION 'my_number_hashes: no resident % of municipality % for this digest', quote_literal(orphan),
            p_code USING ERRCODE = 'foreign_key_violation', TABLE = 'my_number_hashes';
    END IF;
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', residents_part);
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', digests_part);
    -- Last: ATTACH locks the DEFAULT partition (ACCESS EXCLUSIVE) until commit and scans it for rows of
    -- this municipality (there are none: the caller found none under its import lock).
    EXECUTE format('ALTER TABLE public.residents ATTACH PARTITION public.%I FOR VALUES IN (%L)',
                   residents_part, p_code);
    EXECUTE format('ALTER TABLE public.my_number_hashes ATTACH PARTITION public.%I FOR VALUES IN (%L)',
                   digests_part, p_code);
END
$$;
