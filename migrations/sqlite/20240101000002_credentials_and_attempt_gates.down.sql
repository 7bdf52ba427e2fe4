DROP TABLE login_counters;
CREATE TABLE login_counters (
    key         TEXT PRIMARY KEY,
    count       INTEGER NOT NULL,
    window_ends INTEGER NOT NULL
);
DROP TABLE session_credentials;
ALTER TABLE users DROP COLUMN credential_version;
