-- Account recovery and email verification.
-- A verified email keeps the time it was verified; null until its owner follows a link.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Mailed tokens: only the hex SHA-256 of each token is kept. A token is used up by deleting its
-- row, so of two parallel redemptions one finds it. An account has at most one token per
-- purpose: issuing a new one replaces it (ON CONFLICT), so parallel requests cannot leave two.
-- A request for an email without an account writes a row without a user (it redeems nothing),
-- so both cases cost the same write. Expired rows are swept by the host.
CREATE TABLE user_tokens (
    token_hash text PRIMARY KEY,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);
CREATE INDEX user_tokens_expires ON user_tokens (expires_at);

-- The outbox: a message is written here in the request that composed it and delivered later
-- by a host's worker. A worker claims due rows with FOR UPDATE SKIP LOCKED and holds them
-- until `locked_until`, so two hosts never send one message at the same time.
CREATE TABLE mail_outbox (
    id              bigserial PRIMARY KEY,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
