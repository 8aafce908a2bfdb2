-- Residents uploaded by each municipality, and the keyed hashes of their My Numbers (never the number).
CREATE TABLE residents (
    municipality_code text NOT NULL REFERENCES municipalities (code),
    atena_no          text NOT NULL CHECK (length(atena_no) BETWEEN 1 AND 32),
    voucher_no        text CHECK (voucher_no ~ '^[0-9]{10}$'),
    name              text NOT NULL,
    name_kana         text NOT NULL DEFAULT '',
    name_kana_norm    text NOT NULL DEFAULT '',
    birth_date        date,
    sex               smallint CHECK (sex IN (1, 2)),
    address           text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'moved_out', 'deceased', 'missing_from_full_import')),
    status_date       date,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality_code, atena_no)
);
-- A voucher number is unique within its municipality (DOMAIN.md): records are matched to residents by it.
CREATE UNIQUE INDEX residents_voucher ON residents (municipality_code, voucher_no) WHERE voucher_no IS NOT NULL;
CREATE INDEX residents_three_items ON residents (municipality_code, name_kana_norm, birth_date, sex);

CREATE TABLE my_number_hashes (
    municipality_code text NOT NULL,
    atena_no          text NOT NULL,
    hmac              text NOT NULL CHECK (hmac ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (municipality_code, atena_no),
    FOREIGN KEY (municipality_code, atena_no) REFERENCES residents ON DELETE CASCADE
);
CREATE INDEX my_number_hashes_hmac ON my_number_hashes (hmac);
