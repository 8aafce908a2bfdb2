-- A municipality's first import, in two steps around the caller's own INSERT from its staging table:
--   vrs_resident_partition_open(code)   creates residents_<code> and my_number_hashes_<code>, bare (no index,
--                                       no security yet), and lets vrs_api insert into them;
--   (the caller inserts its staged rows, as itself, from its own temporary table)
--   vrs_resident_partition_attach(code) takes that back, checks the digests, builds the indexes and attaches
--                                       both tables to their parents.
-- They run as the owner (only the owner may attach), only for the municipality of the caller's scope, and
-- never read anything the caller made: the rows come in through the caller's INSERT, with the caller's rights.
-- A bare table is visible to no one else until commit, and CHECK (municipality_code = code) keeps any other
-- municipality's rows out of it (and spares ATTACH its scan). Everything happens in the caller's transaction:
-- a failure or a rollback leaves nothing behind.
CREATE FUNCTION vrs_resident_partition_check(p_code text) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, public AS $$
BEGIN
    IF public.vrs_scope() <> 'municipality' OR public.vrs_scope_municipality() IS DISTINCT FROM p_code THEN
        RAISE EXCEPTION 'a municipality''s residents are loaded only in that municipality''s scope'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_code !~ '^[0-9]{6}$' OR NOT EXISTS (SELECT 1 FROM public.municipalities m WHERE m.code = p_code) THEN
        RAISE EXCEPTION 'residents: municipality code % is not in municipalities', quote_literal(p_code)
            USING ERRCODE = 'foreign_key_violation', TABLE = 'residents', COLUMN = 'municipality_code';
    END IF;
END
$$;

-- Returns false when the municipality already has its tables (an earlier file, maybe empty): the caller then
-- inserts through the parents as for any later file. A table of that name that exists but is no partition
-- can only be left by a transaction that committed between _open and _attach (the import never does): rows
-- inserted through the parents would go to the DEFAULT partition beside it, and it would never be attached,
-- so the import is refused loudly, naming the table for an operator to inspect and drop.
CREATE FUNCTION vrs_resident_partition_open(p_code text) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
DECLARE
    residents_part text := 'residents_' || p_code;
    digests_part text := 'my_number_hashes_' || p_code;
    stray text;
BEGIN
    PERFORM vrs_resident_partition_check(p_code);
    SELECT c.relname INTO stray FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN (residents_part, digests_part)
          AND NOT c.relispartition LIMIT 1;
    IF stray IS NOT NULL THEN
        RAISE EXCEPTION 'table % exists but is not attached to its parent; an operator must inspect and drop it', stray
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF to_regclass(format('public.%I', residents_part)) IS NOT NULL
       OR to_regclass(format('public.%I', digests_part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE public.%I (LIKE public.residents INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', residents_part, residents_part || '_code', p_code);
    EXECUTE format('CREATE TABLE public.%I (LIKE public.my_number_hashes INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', digests_part, digests_part || '_code', p_code);
    EXECUTE format('GRANT INSERT ON public.%I, public.%I TO vrs_api', residents_part, digests_part);
    RETURN true;
END
$$;

-- The new tables are analyzed on a small sample (3,000 rows): without any statistics the municipality's next
-- import, when it comes before autovacuum has analyzed the partition, takes the municipality's code for a rare
-- value and checks the file's vouchers by probing an index once per resident (0.4-0.8 s more for 200,000
-- residents); a full ANALYZE cost a first import of that size 0.4-0.9 server CPU seconds.
CREATE FUNCTION vrs_resident_partition_attach(p_code text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
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
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (municipality_code, atena_no)',
                   residents_part, residents_part || '_pkey');
    EXECUTE format('CREATE UNIQUE INDEX %I ON public.%I (municipality_code, voucher_no) WHERE voucher_no IS NOT NULL',
                   residents_part || '_voucher', residents_part);
    EXECUTE format('CREATE INDEX %I ON public.%I (municipality_code, (name_kana_norm COLLATE "C"), atena_no)',
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

REVOKE ALL ON FUNCTION vrs_resident_partition_check(text), vrs_resident_partition_open(text),
    vrs_resident_partition_attach(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_resident_partition_open(text), vrs_resident_partition_attach(text) TO vrs_api;
