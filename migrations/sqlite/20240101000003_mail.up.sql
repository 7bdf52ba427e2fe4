-- Account recovery and email verification (as migrations/20240101000005_mail.up.sql for
-- PostgreSQL). Times are Unix milliseconds.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- At most one token per account and purpose; a row without a user stands for a request for an
-- email without an account (it redeems nothing).
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);

CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
