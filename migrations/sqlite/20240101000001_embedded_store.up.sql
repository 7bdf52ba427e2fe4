-- The embedded default: users, login history, sessions and login-attempt counters in one
-- SQLite file, for machines with no PostgreSQL or Redis. Times are Unix milliseconds.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    username      TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login    INTEGER
);
-- Named like the PostgreSQL ones: a violation names the field in its message.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE login_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'invalid_credentials', 'locked')),
    ip_address  TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    device_info TEXT NOT NULL,
    location    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX login_attempts_user_created ON login_attempts (user_id, created_at DESC, id DESC);

-- A session lives until keep_until: its expiry, or sooner when an idle timeout applies.
-- `data` is the session as JSON (the same encoding the Redis store uses).
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    data          TEXT NOT NULL,
    last_activity INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    keep_until    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_keep_until ON sessions (keep_until);

CREATE TABLE login_counters (
    key         TEXT PRIMARY KEY,
    count       INTEGER NOT NULL,
    window_ends INTEGER NOT NULL
);
