-- Raised by every password change (see migrations/20240101000003_credential_version.up.sql).
ALTER TABLE users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;

-- The session store's own record of the lowest credential version a new session of a user may
-- have: sessions for older versions are refused, however the login that asked was delayed.
CREATE TABLE session_credentials (
    user_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

-- Login-attempt counters count failures and attempts in flight apart (a success gives its
-- place back). Counters are short-lived, so the old table is replaced, not converted.
DROP TABLE login_counters;
CREATE TABLE login_counters (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL DEFAULT 0,
    in_flight  INTEGER NOT NULL DEFAULT 0,
    -- When the window of failures ends (0: none open).
    window_end INTEGER NOT NULL DEFAULT 0,
    -- Attempts refused by the lock in this window.
    refused    INTEGER NOT NULL DEFAULT 0,
    -- When the row may go: the window's end, or later while an attempt may be in flight.
    keep_until INTEGER NOT NULL
);
