-- As migrations/20240101000008_accounts.up.sql for PostgreSQL. SQLite's LIKE is
-- case-insensitive for ASCII; the searches compare lower() forms, which these indexes serve.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_email_lower ON users (lower(email));
CREATE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_created ON users (created_at, id);

-- SQLite cannot change a CHECK constraint: the tokens table is rebuilt with the new purpose
-- and the new address of a pending email change.
CREATE TABLE user_tokens_new (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL
               CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login', 'email_change')),
    expires_at INTEGER NOT NULL,
    detail     TEXT
);
INSERT INTO user_tokens_new (token_hash, user_id, purpose, expires_at)
    SELECT token_hash, user_id, purpose, expires_at FROM user_tokens;
DROP TABLE user_tokens;
ALTER TABLE user_tokens_new RENAME TO user_tokens;
CREATE UNIQUE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);

CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient));
