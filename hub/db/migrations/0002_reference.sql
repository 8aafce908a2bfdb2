-- Reference data without personal data: municipalities (seeded by migrate from the packaged list),
-- venues, devices (stations) and their last reported status.
CREATE TABLE municipalities (
    code                 text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    prefecture_code      text NOT NULL CHECK (prefecture_code ~ '^[0-9]{2}$'),
    prefecture           text NOT NULL,
    name                 text NOT NULL,
    name_kana            text NOT NULL,
    designated_city_code text,
    is_ward              boolean NOT NULL DEFAULT false
);

CREATE TABLE venues (
    venue_id          text PRIMARY KEY
                      CHECK (venue_id ~ '^[A-Za-z0-9._-]{1,64}$' AND venue_id NOT IN ('.', '..')),
    municipality_code text NOT NULL REFERENCES municipalities (code),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venues_municipality ON venues (municipality_code);

CREATE TABLE devices (
    device_id      text PRIMARY KEY
                   CHECK (device_id ~ '^[A-Za-z0-9._-]{1,64}$' AND device_id NOT IN ('.', '..')),
    venue_id       text NOT NULL REFERENCES venues (venue_id),
    public_key_pem text NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    last_batch_seq bigint,
    last_batch_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX devices_venue ON devices (venue_id);

CREATE TABLE device_status (
    device_id    text PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    state        text NOT NULL CHECK (state IN ('online', 'offline')),
    queue_depth  integer NOT NULL DEFAULT 0,
    version      text NOT NULL DEFAULT '',
    last_scan_at timestamptz,
    sent_at      timestamptz,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
