-- Residents and their My Number digests are partitioned by municipality (LIST on municipality_code), so that
-- a municipality's first file can be loaded into tables of its own and indexed once at the end, which costs a
-- fraction of maintaining every index row by row (migration 0065). Rows of a
-- municipality without a partition of its own (everything present before this migration, rows written
-- directly) live in the DEFAULT partitions. Queries keep naming the parents; row-level security, grants and
-- triggers are the parents' alone, and no role but the owner may name a partition.

-- Out of the way first: the old tables keep their rows until these have moved, under other names.
DROP VIEW agg_residents;
ALTER TABLE provided_records DROP CONSTRAINT provided_records_municipality_code_atena_no_fkey;
ALTER TABLE issued_certificates DROP CONSTRAINT issued_certificates_municipality_code_atena_no_fkey;
ALTER TABLE certificate_links DROP CONSTRAINT certificate_links_municipality_code_atena_no_fkey;
ALTER TABLE my_number_hashes RENAME TO my_number_hashes_old;
ALTER TABLE residents RENAME TO residents_old;
ALTER INDEX residents_pkey RENAME TO residents_old_pkey;
ALTER INDEX residents_voucher RENAME TO residents_old_voucher;
ALTER INDEX residents_three_items RENAME TO residents_old_three_items;
ALTER INDEX residents_kana_c RENAME TO residents_old_kana_c;
ALTER INDEX my_number_hashes_pkey RENAME TO my_number_hashes_old_pkey;
ALTER INDEX my_number_hashes_hmac RENAME TO my_number_hashes_old_hmac;

-- Same columns, defaults and CHECKs (names included), same keys. The three-item index of 0003 is gone: the
-- move-in inquiry looks the three items up through residents_kana_c (vrs_inquiry_run below), and the
-- index cost a first import of 200,000 residents about 1.9 s on its own.
CREATE TABLE residents (LIKE residents_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (municipality_code);
ALTER TABLE residents ADD CONSTRAINT residents_pkey PRIMARY KEY (municipality_code, atena_no);
CREATE UNIQUE INDEX residents_voucher ON residents (municipality_code, voucher_no) WHERE voucher_no IS NOT NULL;
CREATE INDEX residents_kana_c ON residents (municipality_code, (name_kana_norm COLLATE "C"), atena_no);
CREATE TABLE residents_default PARTITION OF residents DEFAULT;

CREATE TABLE my_number_hashes (LIKE my_number_hashes_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (municipality_code);
ALTER TABLE my_number_hashes ADD CONSTRAINT my_number_hashes_pkey PRIMARY KEY (municipality_code, atena_no);
CREATE INDEX my_number_hashes_hmac ON my_number_hashes (hmac);
CREATE TABLE my_number_hashes_default PARTITION OF my_number_hashes DEFAULT;

INSERT INTO residents SELECT * FROM residents_old;
INSERT INTO my_number_hashes SELECT * FROM my_number_hashes_old;
DROP TABLE my_number_hashes_old;
DROP TABLE residents_old;

ALTER TABLE provided_records ADD CONSTRAINT provided_records_municipality_code_atena_no_fkey
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents;
ALTER TABLE issued_certificates ADD CONSTRAINT issued_certificates_municipality_code_atena_no_fkey
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents;
ALTER TABLE certificate_links ADD CONSTRAINT certificate_links_municipality_code_atena_no_fkey
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents;

-- Row-level security as 0007, 0020 and 0030 set it. A query through a parent is checked against the parent's
-- policies only; the partitions have security enabled and forced without any policy, so that naming one
-- directly shows nothing even to a role that was somehow granted it.
ALTER TABLE residents ENABLE ROW LEVEL SECURITY;
ALTER TABLE residents FORCE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes ENABLE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes FORCE ROW LEVEL SECURITY;
ALTER TABLE residents_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE residents_default FORCE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE my_number_hashes_default FORCE ROW LEVEL SECURITY;
CREATE POLICY municipality_all ON residents FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY ingest_read ON residents FOR SELECT TO vrs_ingest
    USING (vrs_scope() = 'ingest');
CREATE POLICY inquiry_read ON residents FOR SELECT TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_inquiry_from());
CREATE POLICY stats_count ON residents FOR SELECT TO vrs_stats USING (true);
CREATE POLICY municipality_all ON my_number_hashes FOR ALL TO vrs_api
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY inquiry_read ON my_number_hashes FOR SELECT TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_inquiry_from());

-- Grants on the parents only (0008, 0020, 0030).
REVOKE ALL ON residents, my_number_hashes, residents_default, my_number_hashes_default FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON residents, my_number_hashes TO vrs_api;
GRANT SELECT ON residents TO vrs_ingest;
GRANT SELECT ON residents, my_number_hashes TO vrs_inquiry;
GRANT SELECT (municipality_code, status) ON residents TO vrs_stats;

CREATE VIEW agg_residents AS
    SELECT r.municipality_code, m.prefecture_code, m.prefecture, m.name AS municipality,
           count(*)::bigint AS registered
    FROM residents r JOIN municipalities m ON m.code = r.municipality_code
    WHERE r.status = 'active'
    GROUP BY r.municipality_code, m.prefecture_code, m.prefecture, m.name;
ALTER VIEW agg_residents OWNER TO vrs_stats;
GRANT SELECT ON agg_residents TO vrs_reader;

-- The municipality check of 0062, on the parent (statement triggers fire for the table a statement names).
CREATE TRIGGER residents_municipality_known AFTER INSERT ON residents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_resident_municipality_known();
CREATE TRIGGER residents_municipality_known_on_update AFTER UPDATE OF municipality_code ON residents
    FOR EACH ROW WHEN (OLD.municipality_code IS DISTINCT FROM NEW.municipality_code)
    EXECUTE FUNCTION vrs_resident_municipality_known();

-- A digest belongs to a resident: the foreign key of 0003, checked once per statement over the rows it
-- inserts instead of by a look-up and a lock per row (1.8 of 3.5 s for 133,000 digests). The check runs with
-- the inserting role's rights: whoever may write a municipality's digests sees its residents. It is one
-- anti-join whatever the number of municipalities a statement writes (one query per municipality, each
-- reading all of the statement's digests, was quadratic for a bulk load spread over hundreds of them). The
-- usual statement writes one municipality's digests: its code then goes in as a literal, so the planner reads
-- that municipality's partition only (a list of codes, = ANY, would make every index probe search the list).
-- No LIMIT: it would talk the planner into probing the index once per digest, the plan for a join expected to
-- stop at its first row, where a hash join is cheaper for a large file. Residents are never deleted by the hub; when one is (by hand), its digest goes with it (ON DELETE
-- CASCADE, as before), and a resident's key cannot change while a digest names it (NO ACTION, as before).
-- Unlike the key, nothing locks the resident until commit: a resident deleted by hand at the same moment as
-- its digest is written could leave the digest behind.
CREATE FUNCTION vrs_my_number_resident_known() RETURNS trigger LANGUAGE plpgsql
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
CREATE TRIGGER my_number_hashes_resident_known AFTER INSERT ON my_number_hashes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_my_number_resident_known();
CREATE TRIGGER my_number_hashes_resident_known_on_update AFTER UPDATE OF municipality_code, atena_no
    ON my_number_hashes FOR EACH ROW
    WHEN (OLD.municipality_code IS DISTINCT FROM NEW.municipality_code OR OLD.atena_no IS DISTINCT FROM NEW.atena_no)
    EXECUTE FUNCTION vrs_my_number_resident_known();

CREATE FUNCTION vrs_resident_digest_follows() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM my_number_hashes h USING old_rows o
            WHERE h.municipality_code = o.municipality_code AND h.atena_no = o.atena_no;
    ELSIF EXISTS (SELECT 1 FROM my_number_hashes h
                  WHERE h.municipality_code = OLD.municipality_code AND h.atena_no = OLD.atena_no)
          AND NOT EXISTS (SELECT 1 FROM residents r
                          WHERE r.municipality_code = OLD.municipality_code AND r.atena_no = OLD.atena_no) THEN
        RAISE EXCEPTION 'residents: resident % of municipality % has a My Number digest; its key cannot change',
            quote_literal(OLD.atena_no), OLD.municipality_code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'residents';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER residents_digests_deleted AFTER DELETE ON residents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vrs_resident_digest_follows();
CREATE TRIGGER residents_key_kept_for_digest AFTER UPDATE OF municipality_code, atena_no ON residents
    FOR EACH ROW
    WHEN (OLD.municipality_code IS DISTINCT FROM NEW.municipality_code OR OLD.atena_no IS DISTINCT FROM NEW.atena_no)
    EXECUTE FUNCTION vrs_resident_digest_follows();

-- The three items through residents_kana_c: with deterministic collations "C" equality is the same test.
CREATE OR REPLACE FUNCTION vrs_inquiry_run(p_inquiry uuid, p_actor text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    q transfer_inquiries;
    n integer;
    answer jsonb;
BEGIN
    q := vrs_inquiry_open(p_inquiry);
    IF q.ran_at IS NOT NULL THEN
        RAISE EXCEPTION 'this inquiry was already answered; start a new one' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF q.method = 'my_number' THEN
        INSERT INTO transfer_inquiry_candidates (municipality_code, inquiry_id, candidate_no, from_atena_no)
        SELECT q.municipality_code, q.inquiry_id, row_number() OVER (ORDER BY h.atena_no), h.atena_no
        FROM my_number_hashes h WHERE h.municipality_code = q.from_municipality_code AND h.hmac = q.my_number_hmac;
    ELSE
        INSERT INTO transfer_inquiry_candidates (municipality_code, inquiry_id, candidate_no, from_atena_no)
        SELECT q.municipality_code, q.inquiry_id, row_number() OVER (ORDER BY r.atena_no), r.atena_no
        FROM residents r WHERE r.municipality_code = q.from_municipality_code
            AND r.name_kana_norm COLLATE "C" = q.name_kana_norm AND r.birth_date = q.birth_date AND r.sex = q.sex;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE transfer_inquiries SET ran_at = now(), candidates = n, chosen = CASE WHEN n = 1 THEN 1 END
        WHERE municipality_code = q.municipality_code AND inquiry_id = q.inquiry_id
        RETURNING * INTO q;
    answer := vrs_inquiry_answer(q);
    PERFORM vrs_inquiry_audit(q, p_actor, 'transfer_inquiry',
        jsonb_build_object('matches', n, 'records', jsonb_array_length(answer -> 'records')));
    PERFORM set_config('vrs.inquiry_from', '', true);
    RETURN answer;
END
$$;
