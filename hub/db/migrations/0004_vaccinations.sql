-- Dose records. vaccination_history keeps every accepted record (registrations and voids) and is never
-- changed; vaccinations is the current state derived from it: per municipality + voucher + dose, the
-- latest registration (by scanned_at, then record_id) that no void names. seen_records remembers every
-- record_id ever accepted, so a replay can never resurrect what a void or a correction replaced.
-- The two record tables carry no foreign key to municipalities: they take thousands of rows a second,
-- a per-row referential check roughly doubles the cost of each insert, and every writer (ingest, imports,
-- corrections) already checks the code against the same packaged list.
CREATE TABLE vaccination_history (
    municipality_code text NOT NULL CHECK (municipality_code ~ '^[0-9]{6}$'),
    record_id         uuid NOT NULL,
    op                text NOT NULL CHECK (op IN ('register', 'void')),
    voucher_no        text NOT NULL CHECK (voucher_no ~ '^[0-9]{10}$'),
    dose              smallint NOT NULL CHECK (dose BETWEEN 1 AND 9),
    ticket_kind       text,
    status            text NOT NULL CHECK (status IN ('vaccinated', 'screened_only')),
    administered_on   date NOT NULL,
    venue_id          text NOT NULL,
    maker             text NOT NULL CHECK (maker IN ('pfizer', 'moderna', 'astrazeneca', 'novavax', 'other')),
    lot               text NOT NULL,
    doctor            text NOT NULL,
    read_source       text NOT NULL,
    read_frames       integer NOT NULL DEFAULT 0,
    scanned_at        timestamptz NOT NULL,
    voids_record_id   uuid,
    device_id         text,
    batch_seq         bigint,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, record_id),
    CHECK ((op = 'void') = (voids_record_id IS NOT NULL))
);
CREATE INDEX vaccination_history_key ON vaccination_history (municipality_code, voucher_no, dose);
CREATE INDEX vaccination_history_voids ON vaccination_history (voids_record_id) WHERE voids_record_id IS NOT NULL;
CREATE TRIGGER vaccination_history_append_only BEFORE UPDATE OR DELETE ON vaccination_history
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

CREATE TABLE vaccinations (
    municipality_code text NOT NULL CHECK (municipality_code ~ '^[0-9]{6}$'),
    voucher_no        text NOT NULL CHECK (voucher_no ~ '^[0-9]{10}$'),
    dose              smallint NOT NULL CHECK (dose BETWEEN 1 AND 9),
    record_id         uuid NOT NULL,
    ticket_kind       text,
    status            text NOT NULL CHECK (status IN ('vaccinated', 'screened_only')),
    administered_on   date NOT NULL,
    venue_id          text NOT NULL,
    maker             text NOT NULL CHECK (maker IN ('pfizer', 'moderna', 'astrazeneca', 'novavax', 'other')),
    lot               text NOT NULL,
    doctor            text NOT NULL,
    read_source       text NOT NULL,
    scanned_at        timestamptz NOT NULL,
    device_id         text,
    -- 宛名番号 of the resident holding this voucher; NULL = not (yet) matched to an uploaded resident.
    atena_no          text,
    registered_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, voucher_no, dose)
);
-- A venue's own records of a day (Q31, Q35).
CREATE INDEX vaccinations_venue ON vaccinations (venue_id, administered_on);
CREATE INDEX vaccinations_atena ON vaccinations (municipality_code, atena_no);

-- Also how a record is found by its id alone: seen_records gives its municipality, then the history's
-- primary key.
CREATE TABLE seen_records (
    record_id         uuid PRIMARY KEY,
    municipality_code text NOT NULL,
    op                text NOT NULL CHECK (op IN ('register', 'void')),
    seen_at           timestamptz NOT NULL DEFAULT now()
);
