-- Accounts of the admin API: users, database-held sessions (so API replicas stay stateless), hashed API
-- tokens and the login attempts that throttling counts. No personal data of residents lives here; the
-- ingest and reader roles get no access at all.

CREATE TABLE users (
    user_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username         text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    display_name     text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    password_hash    text NOT NULL,
    role             text NOT NULL CHECK (role IN ('operator', 'municipal_admin', 'municipal_staff',
                                                    'venue_staff', 'prefecture_viewer', 'national_viewer')),
    municipality_code text CHECK (municipality_code ~ '^[0-9]{6}$'),
    venue_id         text CHECK (venue_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    prefecture_code  text CHECK (prefecture_code ~ '^[0-9]{2}$'),
    disabled         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((role IN ('municipal_admin', 'municipal_staff')) = (municipality_code IS NOT NULL)),
    CHECK ((role = 'venue_staff') = (venue_id IS NOT NULL)),
    CHECK ((role = 'prefecture_viewer') = (prefecture_code IS NOT NULL))
);

CREATE TABLE sessions (
    session_hash  bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    remote_addr   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    token_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_attempts (
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    remote_addr   text NOT NULL,
    succeeded     boolean NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_user ON login_attempts (username, attempted_at) WHERE NOT succeeded;
CREATE INDEX login_attempts_addr ON login_attempts (remote_addr, attempted_at) WHERE NOT succeeded;

REVOKE ALL ON users, sessions, api_tokens, login_attempts FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, api_tokens, login_attempts TO vrs_api;
