-- Move-in inquiries (転入時の照会, Q19, Q20, Q30, Q44, Q69): the only way one municipality reads another's
-- data. The asking municipality records the inquiry with the person's consent (written or verbal, when,
-- given by whom, taken by whom); three SECURITY DEFINER functions owned by the NOLOGIN role vrs_inquiry then
-- answer it. They run in the asking municipality's own scope and read the previous municipality only
-- through policies granted to vrs_inquiry and keyed on vrs.inquiry_from, a transaction-local setting they
-- set themselves from the consented inquiry row and clear before returning. Nobody can SET ROLE vrs_inquiry
-- except the schema owner, and the normal municipality policies are not widened at all.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vrs_inquiry') THEN
        BEGIN
            CREATE ROLE vrs_inquiry NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by a migration of another database of the same cluster
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'vrs_inquiry', 'MEMBER') THEN
        GRANT vrs_inquiry TO CURRENT_USER;
    END IF;
END
$$;

CREATE FUNCTION vrs_inquiry_from() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('vrs.inquiry_from', true), '') $$;

CREATE TABLE transfer_inquiries (
    municipality_code      text NOT NULL REFERENCES municipalities (code),  -- the asking (new) municipality
    inquiry_id             uuid NOT NULL,
    from_municipality_code text NOT NULL REFERENCES municipalities (code),
    method                 text NOT NULL CHECK (method IN ('my_number', 'three_items')),
    my_number_hmac         text CHECK (my_number_hmac ~ '^[0-9a-f]{64}$'),
    name_kana_norm         text CHECK (length(name_kana_norm) BETWEEN 1 AND 100),
    birth_date             date,
    sex                    smallint CHECK (sex IN (1, 2)),
    consent_kind           text NOT NULL CHECK (consent_kind IN ('written', 'verbal')),
    consent_at             timestamptz NOT NULL,
    consent_given_by       text NOT NULL CHECK (length(consent_given_by) BETWEEN 1 AND 100),
    consent_taken_by       text NOT NULL CHECK (length(consent_taken_by) BETWEEN 1 AND 100),
    asked_by               text NOT NULL,
    asked_at               timestamptz NOT NULL DEFAULT now(),
    ran_at                 timestamptz,
    candidates             integer,
    chosen                 integer,
    PRIMARY KEY (municipality_code, inquiry_id),
    CHECK (from_municipality_code <> municipality_code),
    CHECK ((method = 'my_number') = (my_number_hmac IS NOT NULL)),
    CHECK (method <> 'three_items' OR (name_kana_norm IS NOT NULL AND birth_date IS NOT NULL AND sex IS NOT NULL))
);

-- Who matched, by position; the previous municipality's 宛名番号 never leaves the database functions.
CREATE TABLE transfer_inquiry_candidates (
    municipality_code text NOT NULL,
    inquiry_id        uuid NOT NULL,
    candidate_no      integer NOT NULL,
    from_atena_no     text NOT NULL,
    PRIMARY KEY (municipality_code, inquiry_id, candidate_no),
    FOREIGN KEY (municipality_code, inquiry_id) REFERENCES transfer_inquiries
);

-- Records the previous municipality provided, copied into the new resident's history as they were; they
-- belong to the new municipality but are never edited there (append-only).
CREATE TABLE provided_records (
    municipality_code             text NOT NULL,
    atena_no                      text NOT NULL,
    provided_by_municipality_code text NOT NULL REFERENCES municipalities (code),
    source_record_id              uuid NOT NULL,
    inquiry_id                    uuid NOT NULL,
    voucher_no                    text NOT NULL,
    dose                          smallint NOT NULL,
    status                        text NOT NULL,
    administered_on               date NOT NULL,
    venue_id                      text NOT NULL,
    venue_name                    text,
    maker                         text NOT NULL,
    lot                           text NOT NULL,
    doctor                        text NOT NULL,
    copied_by                     text NOT NULL,
    copied_at                     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, atena_no, source_record_id),
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents,
    FOREIGN KEY (municipality_code, inquiry_id) REFERENCES transfer_inquiries
);
CREATE TRIGGER provided_records_append_only BEFORE UPDATE OR DELETE ON provided_records
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

ALTER TABLE transfer_inquiries ENABLE ROW LEVEL SECURITY;
ALTER TABLE transfer_inquiries FORCE ROW LEVEL SECURITY;
ALTER TABLE transfer_inquiry_candidates ENABLE ROW LEVEL SECURITY;
ALTER TABLE transfer_inquiry_candidates FORCE ROW LEVEL SECURITY;
ALTER TABLE provided_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE provided_records FORCE ROW LEVEL SECURITY;

-- The asking municipality's own rows (the API role and the inquiry functions acting in its scope).
CREATE POLICY municipality_all ON transfer_inquiries FOR ALL TO vrs_api, vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY municipality_all ON transfer_inquiry_candidates FOR ALL TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());
CREATE POLICY municipality_all ON provided_records FOR ALL TO vrs_api, vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality())
    WITH CHECK (vrs_scope() = 'municipality' AND municipality_code = vrs_scope_municipality());

-- The previous municipality, read only, only while an inquiry function has set vrs.inquiry_from.
CREATE POLICY inquiry_read ON residents FOR SELECT TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_inquiry_from());
CREATE POLICY inquiry_read ON my_number_hashes FOR SELECT TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_inquiry_from());
CREATE POLICY inquiry_read ON vaccinations FOR SELECT TO vrs_inquiry
    USING (vrs_scope() = 'municipality' AND municipality_code = vrs_inquiry_from());
-- Audit rows in both chains (the chain trigger reads the chain's last row, hence SELECT as well).
CREATE POLICY inquiry_audit ON audit_log FOR ALL TO vrs_inquiry
    USING (vrs_scope() = 'municipality'
           AND municipality_code IN (vrs_inquiry_from(), vrs_scope_municipality()))
    WITH CHECK (vrs_scope() = 'municipality'
                AND municipality_code IN (vrs_inquiry_from(), vrs_scope_municipality()));

REVOKE ALL ON transfer_inquiries, transfer_inquiry_candidates, provided_records FROM PUBLIC;
GRANT SELECT, INSERT ON transfer_inquiries TO vrs_api;
GRANT SELECT ON provided_records TO vrs_api;
GRANT SELECT, UPDATE ON transfer_inquiries TO vrs_inquiry;
GRANT SELECT, INSERT ON transfer_inquiry_candidates, provided_records TO vrs_inquiry;
GRANT SELECT ON residents, my_number_hashes, vaccinations, venues TO vrs_inquiry;
GRANT SELECT, INSERT ON audit_log TO vrs_inquiry;
GRANT USAGE ON SCHEMA public TO vrs_inquiry;

-- "山田 太郎" -> "山＊ 太＊": enough for staff to tell candidates apart with the person in front of them.
CREATE FUNCTION vrs_mask_name(name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(left(part, 1) || repeat('＊', greatest(length(part) - 1, 0)), ' ' ORDER BY n)
    FROM unnest(regexp_split_to_array(btrim(name, E' \u3000'), E'[ \u3000]+')) WITH ORDINALITY AS p(part, n)
$$;

-- The answer to an inquiry as the asking municipality may see it: masked candidates when several
-- matched, the chosen person's current records once one is chosen (or only one matched). Runs inside the
-- functions below (as vrs_inquiry, with vrs.inquiry_from set).
CREATE FUNCTION vrs_inquiry_answer(q transfer_inquiries) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'inquiry_id', q.inquiry_id,
        'from_municipality_code', q.from_municipality_code,
        'method', q.method,
        'matches', coalesce(q.candidates, 0),
        'chosen', q.chosen,
        'candidates', CASE WHEN coalesce(q.candidates, 0) > 1 THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'candidate_no', c.candidate_no, 'masked_name', vrs_mask_name(r.name), 'birth_date', r.birth_date)
                ORDER BY c.candidate_no), '[]'::jsonb)
            FROM transfer_inquiry_candidates c
            JOIN residents r ON r.municipality_code = q.from_municipality_code AND r.atena_no = c.from_atena_no
            WHERE c.municipality_code = q.municipality_code AND c.inquiry_id = q.inquiry_id) ELSE '[]'::jsonb END,
        'records', CASE WHEN q.chosen IS NOT NULL THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'record_id', v.record_id, 'voucher_no', v.voucher_no, 'dose', v.dose, 'status', v.status,
                'administered_on', v.administered_on, 'venue_id', v.venue_id, 'venue_name', ve.name,
                'maker', v.maker, 'lot', v.lot, 'doctor', v.doctor) ORDER BY v.dose, v.administered_on), '[]'::jsonb)
            FROM transfer_inquiry_candidates c
            JOIN residents r ON r.municipality_code = q.from_municipality_code AND r.atena_no = c.from_atena_no
            JOIN vaccinations v ON v.municipality_code = q.from_municipality_code
                AND (v.atena_no = r.atena_no OR v.voucher_no = r.voucher_no)
            LEFT JOIN venues ve ON ve.venue_id = v.venue_id
            WHERE c.municipality_code = q.municipality_code AND c.inquiry_id = q.inquiry_id
              AND c.candidate_no = q.chosen) ELSE '[]'::jsonb END)
$$;

-- The inquiry row of the caller's municipality, locked, with vrs.inquiry_from set to its previous
-- municipality; refuses without a municipality scope or when the row does not exist.
CREATE FUNCTION vrs_inquiry_open(p_inquiry uuid) RETURNS transfer_inquiries LANGUAGE plpgsql AS $$
DECLARE
    q transfer_inquiries;
BEGIN
    IF vrs_scope() <> 'municipality' OR vrs_scope_municipality() = '' THEN
        RAISE EXCEPTION 'a transfer inquiry runs only in a municipality scope' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO q FROM transfer_inquiries
        WHERE municipality_code = vrs_scope_municipality() AND inquiry_id = p_inquiry FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such inquiry' USING ERRCODE = 'no_data_found';
    END IF;
    -- The consent columns are NOT NULL; checked again here because this is the gate to another municipality.
    IF q.consent_kind IS NULL OR q.consent_at IS NULL OR q.consent_given_by IS NULL THEN
        RAISE EXCEPTION 'no consent recorded' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('vrs.inquiry_from', q.from_municipality_code, true);
    RETURN q;
END
$$;

CREATE FUNCTION vrs_inquiry_audit(q transfer_inquiries, p_actor text, p_action text, p_details jsonb)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit_log (municipality_code, actor, action, target, details, seq, prev_hash, row_hash)
    VALUES (q.from_municipality_code, p_actor, p_action || '_provided', q.municipality_code || '/' || q.inquiry_id,
            p_details || jsonb_build_object('asking_municipality', q.municipality_code, 'method', q.method,
                'consent_kind', q.consent_kind, 'consent_at', q.consent_at, 'consent_given_by', q.consent_given_by,
                'consent_taken_by', q.consent_taken_by), 0, '', ''),
           (q.municipality_code, p_actor, p_action, q.inquiry_id::text,
            p_details || jsonb_build_object('from_municipality', q.from_municipality_code, 'method', q.method,
                'consent_kind', q.consent_kind, 'consent_at', q.consent_at, 'consent_given_by', q.consent_given_by,
                'consent_taken_by', q.consent_taken_by), 0, '', '')
$$;

-- Run an inquiry once: find the person in the previous municipality, audit in both, answer.
CREATE FUNCTION vrs_inquiry_run(p_inquiry uuid, p_actor text) RETURNS jsonb
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
            AND r.name_kana_norm = q.name_kana_norm AND r.birth_date = q.birth_date AND r.sex = q.sex;
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

-- Pick one of several 3-item matches (once per inquiry): the answer then holds that person's records.
CREATE FUNCTION vrs_inquiry_choose(p_inquiry uuid, p_candidate integer, p_actor text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    q transfer_inquiries;
    answer jsonb;
BEGIN
    q := vrs_inquiry_open(p_inquiry);
    IF q.ran_at IS NULL OR q.chosen IS NOT NULL OR p_candidate NOT BETWEEN 1 AND coalesce(q.candidates, 0) THEN
        RAISE EXCEPTION 'no such candidate to choose' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE transfer_inquiries SET chosen = p_candidate
        WHERE municipality_code = q.municipality_code AND inquiry_id = q.inquiry_id RETURNING * INTO q;
    answer := vrs_inquiry_answer(q);
    PERFORM vrs_inquiry_audit(q, p_actor, 'transfer_inquiry_choice',
        jsonb_build_object('candidate_no', p_candidate, 'records', jsonb_array_length(answer -> 'records')));
    PERFORM set_config('vrs.inquiry_from', '', true);
    RETURN answer;
END
$$;

-- Copy the chosen person's current records into resident p_atena of the asking municipality, marked as
-- provided by the previous one; a second copy adds only what was not copied yet. Returns rows added.
CREATE FUNCTION vrs_inquiry_copy(p_inquiry uuid, p_atena text, p_actor text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    q transfer_inquiries;
    rec jsonb;
    n integer := 0;
    added integer;
BEGIN
    q := vrs_inquiry_open(p_inquiry);
    IF q.chosen IS NULL THEN
        RAISE EXCEPTION 'no person chosen for this inquiry' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR rec IN SELECT jsonb_array_elements(vrs_inquiry_answer(q) -> 'records') LOOP
        INSERT INTO provided_records (municipality_code, atena_no, provided_by_municipality_code, source_record_id,
            inquiry_id, voucher_no, dose, status, administered_on, venue_id, venue_name, maker, lot, doctor, copied_by)
        VALUES (q.municipality_code, p_atena, q.from_municipality_code, (rec ->> 'record_id')::uuid, q.inquiry_id,
            rec ->> 'voucher_no', (rec ->> 'dose')::smallint, rec ->> 'status', (rec ->> 'administered_on')::date,
            rec ->> 'venue_id', rec ->> 'venue_name', rec ->> 'maker', rec ->> 'lot', rec ->> 'doctor', p_actor)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        n := n + added;
    END LOOP;
    PERFORM vrs_inquiry_audit(q, p_actor, 'transfer_copy', jsonb_build_object('atena_no', p_atena, 'copied', n));
    PERFORM set_config('vrs.inquiry_from', '', true);
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION vrs_mask_name(text), vrs_inquiry_answer(transfer_inquiries), vrs_inquiry_open(uuid),
    vrs_inquiry_audit(transfer_inquiries, text, text, jsonb), vrs_inquiry_run(uuid, text),
    vrs_inquiry_choose(uuid, integer, text), vrs_inquiry_copy(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_mask_name(text), vrs_inquiry_answer(transfer_inquiries), vrs_inquiry_open(uuid),
    vrs_inquiry_audit(transfer_inquiries, text, text, jsonb) TO vrs_inquiry;
-- ALTER ... OWNER needs CREATE on the schema for the new owner; it is taken back at once.
GRANT CREATE ON SCHEMA public TO vrs_inquiry;
ALTER FUNCTION vrs_inquiry_run(uuid, text) OWNER TO vrs_inquiry;
ALTER FUNCTION vrs_inquiry_choose(uuid, integer, text) OWNER TO vrs_inquiry;
ALTER FUNCTION vrs_inquiry_copy(uuid, text, text) OWNER TO vrs_inquiry;
REVOKE CREATE ON SCHEMA public FROM vrs_inquiry;
GRANT EXECUTE ON FUNCTION vrs_inquiry_run(uuid, text), vrs_inquiry_choose(uuid, integer, text),
    vrs_inquiry_copy(uuid, text, text) TO vrs_api;
