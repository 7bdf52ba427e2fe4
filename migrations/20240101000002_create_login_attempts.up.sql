-- Each login attempt against an existing account: what the user sees at GET /auth/user/logins.
-- Attempts for emails with no account are not kept (they would store what strangers typed).
CREATE TABLE login_attempts (
    id          bigserial PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'invalid_credentials', 'locked')),
    ip_address  text NOT NULL,
    user_agent  text NOT NULL,
    device_info text NOT NULL,
    location    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Listing is by user, newest first.
CREATE INDEX login_attempts_user_created ON login_attempts (user_id, created_at DESC, id DESC);
