-- A municipality's table that exists but is no partition can only be left by a transaction that committed
-- between vrs_resident_partition_open and _attach (the import never does): rows inserted through the parents
-- would go to the DEFAULT partition beside it and it would never be attached. Refuse the import loudly
-- instead, naming the table for the operator to inspect and drop.
CREATE OR REPLACE FUNCTION vrs_resident_partition_open(p_code text) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
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
