-- The second factor (as migrations/20240101000006_totp.up.sql for PostgreSQL).
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- SQLite cannot change a CHECK constraint: the two tables whose values grew are rebuilt.
CREATE TABLE login_attempts_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('success', 'invalid_credentials', 'locked', 'recovery_code', 'mfa_failed')),
    ip_address  TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    device_info TEXT NOT NULL,
    location    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
INSERT INTO login_attempts_new SELECT * FROM login_attempts;
DROP TABLE login_attempts;
ALTER TABLE login_attempts_new RENAME TO login_attempts;
CREATE INDEX login_attempts_user_created ON login_attempts (user_id, created_at DESC, id DESC);

CREATE TABLE user_tokens_new (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login')),
    expires_at INTEGER NOT NULL
);
INSERT INTO user_tokens_new SELECT * FROM user_tokens;
DROP TABLE user_tokens;
ALTER TABLE user_tokens_new RENAME TO user_tokens;
CREATE UNIQUE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);
