-- A CP932 ledger export reads each person's row stored in CP932 as well (hub.db.ledger): converting the
-- rows as they are sent cost the process serving the download more than all its other work on them, and
-- the server, where it was tried too, nearly as much again as reading them.
--
-- vrs_cp932(text): the text with 〓 (the customary substitute mark) for each character outside what both
-- PostgreSQL's SJIS conversion (whose table is Windows' CP932) and Python's cp932 codec (hub.files.export,
-- the long layout) convert both ways, so that a CP932 export writes the same characters whichever of the
-- two converts it, and the conversion never fails on one it has no code for (𠮷 of 𠮷田, say). The
-- conversion alone would write ¥ and ‾ as the bytes of \ and ~; Python's codec alone holds user-defined
-- characters (外字, which the 2021 system did not support either) and five single-byte vendor codes.
--
-- The characters kept are found by asking the conversion itself about each one, so they are exactly those
-- it converts, whatever table this server was built with. They all lie in the Basic Multilingual Plane.
CREATE FUNCTION pg_temp.sjis_has(cp integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convert_to(chr(cp), 'SJIS');
    RETURN true;
EXCEPTION WHEN untranslatable_character THEN
    RETURN false;
END $$;

DO $do$
DECLARE
    outside text;  -- a bracket expression of every character not kept
BEGIN
    SELECT '[^' || chr(1) || '-' || chr(127)
               || string_agg(chr(lo) || CASE WHEN hi > lo THEN '-' || chr(hi) ELSE '' END, '' ORDER BY lo) || ']'
        INTO outside
        FROM (SELECT min(cp) AS lo, max(cp) AS hi
                FROM (SELECT cp, cp - row_number() OVER (ORDER BY cp) AS run
                        FROM generate_series(128, 65535) AS cp
                       WHERE cp NOT BETWEEN 55296 AND 57343 AND cp NOT IN (165, 8254)  -- surrogates, ¥, ‾
                         AND pg_temp.sjis_has(cp)) has
               GROUP BY run) runs;
    -- One SQL expression, not strict, so that the planner inlines it; the test first, since a replace
    -- costs more and nearly every text needs none.
    EXECUTE format($f$CREATE FUNCTION vrs_cp932(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $body$SELECT CASE WHEN t ~ %1$L THEN regexp_replace(t, %1$L, %2$L, 'g') ELSE t END$body$$f$,
        outside, '〓');
END $do$;

DROP FUNCTION pg_temp.sjis_has(integer);

ALTER TABLE ledger_rows ADD COLUMN line_cp932 bytea;
UPDATE ledger_rows SET line_cp932 = convert_to(vrs_cp932(line), 'SJIS');
ALTER TABLE ledger_rows ALTER COLUMN line_cp932 SET NOT NULL;
