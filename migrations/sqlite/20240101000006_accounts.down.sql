DROP INDEX mail_outbox_recipient;
CREATE TABLE user_tokens_old (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login')),
    expires_at INTEGER NOT NULL
);
INSERT INTO user_tokens_old SELECT token_hash, user_id, purpose, expires_at FROM user_tokens
    WHERE purpose <> 'email_change';
DROP TABLE user_tokens;
ALTER TABLE user_tokens_old RENAME TO user_tokens;
CREATE UNIQUE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);
DROP INDEX users_created;
DROP INDEX users_username_lower;
DROP INDEX users_email_lower;
ALTER TABLE users DROP COLUMN disabled;
