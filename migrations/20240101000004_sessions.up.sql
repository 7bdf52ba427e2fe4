-- Sessions and login-attempt counters in PostgreSQL, for deployments without Redis
-- (asm_stores::postgres_sessions). With Redis configured these tables stay empty.
-- Times are Unix milliseconds.

CREATE TABLE sessions (
    token_hash    text PRIMARY KEY,
    -- The public id, used to list and revoke.
    id            text NOT NULL,
    user_id       text NOT NULL,
    -- The session record (asm_stores::record).
    data          text NOT NULL,
    last_activity bigint NOT NULL,
    expires_at    bigint NOT NULL,
    -- When the session ends: its expiry, or earlier once it has been idle too long.
    keep_until    bigint NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_keep_until ON sessions (keep_until);

-- The lowest credential version a new session of a user may have. A session is created with
-- this row locked, so a password change either sees the new session (and ends it) or the
-- session is refused. Rows of version 0 exist only to be locked.
CREATE TABLE session_credentials (
    user_id    text PRIMARY KEY,
    version    bigint NOT NULL,
    -- When the row may go (a day after a change; at once for version 0 without sessions).
    kept_until bigint NOT NULL
);

CREATE TABLE login_counters (
    key        text PRIMARY KEY,
    failures   bigint NOT NULL DEFAULT 0,
    in_flight  bigint NOT NULL DEFAULT 0,
    -- When the window of failures ends (0: none open).
    window_end bigint NOT NULL DEFAULT 0,
    -- Attempts refused by the lock in this window.
    refused    bigint NOT NULL DEFAULT 0,
    -- When the row may go: the window's end, or later while an attempt may be in flight.
    kept_until bigint NOT NULL
);
CREATE INDEX login_counters_kept_until ON login_counters (kept_until);

-- create-session: stores the session unless the user's credential version moved past
-- p_version (o_created 0), ends the user's least recently active sessions beyond p_max
-- (0: no cap) and returns their public ids as a JSON array. Each statement of a PL/pgSQL
-- function reads what was committed before it, so with the user's credential row locked the
-- cap sees every session of the user.
CREATE FUNCTION asm_create_session(
    p_token_hash text, p_id text, p_user_id text, p_data text,
    p_last_activity bigint, p_expires_at bigint, p_now bigint, p_max bigint, p_version bigint)
RETURNS TABLE (o_created bigint, o_evicted text)
LANGUAGE plpgsql AS $$
DECLARE
    known bigint;
    ended text := '[]';
BEGIN
    INSERT INTO session_credentials (user_id, version, kept_until) VALUES (p_user_id, 0, 0)
        ON CONFLICT (user_id) DO NOTHING;
    SELECT c.version INTO known FROM session_credentials c WHERE c.user_id = p_user_id FOR UPDATE;
    IF known > p_version THEN
        RETURN QUERY SELECT 0::bigint, NULL::text;
        RETURN;
    END IF;
    IF p_expires_at <= p_now THEN
        RETURN QUERY SELECT 1::bigint, '[]'::text;
        RETURN;
    END IF;
    DELETE FROM sessions s WHERE s.user_id = p_user_id AND s.keep_until <= p_now;
    INSERT INTO sessions (token_hash, id, user_id, data, last_activity, expires_at, keep_until)
        VALUES (p_token_hash, p_id, p_user_id, p_data, p_last_activity, p_expires_at, p_expires_at)
        ON CONFLICT (token_hash) DO UPDATE SET id = excluded.id, user_id = excluded.user_id,
            data = excluded.data, last_activity = excluded.last_activity,
            expires_at = excluded.expires_at, keep_until = excluded.keep_until;
    IF p_max > 0 THEN
        WITH gone AS (
            DELETE FROM sessions s WHERE s.token_hash IN (
                SELECT o.token_hash FROM sessions o
                WHERE o.user_id = p_user_id AND o.token_hash <> p_token_hash
                ORDER BY o.last_activity DESC, o.token_hash OFFSET p_max - 1)
            RETURNING s.id)
        SELECT coalesce(json_agg(gone.id)::text, '[]') INTO ended FROM gone;
    END IF;
    RETURN QUERY SELECT 1::bigint, ended;
END $$;

-- begin-attempt: o_gate 0 admitted (counted in flight), 1 busy, 2 locked (with the ms left in
-- the window and how many attempts the lock has refused).
CREATE FUNCTION asm_begin_attempt(p_key text, p_limit bigint, p_now bigint, p_lease bigint)
RETURNS TABLE (o_gate bigint, o_retry_after bigint, o_refused bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c login_counters;
    f bigint;
BEGIN
    INSERT INTO login_counters (key, kept_until) VALUES (p_key, p_now + p_lease) ON CONFLICT (key) DO NOTHING;
    SELECT * INTO c FROM login_counters l WHERE l.key = p_key FOR UPDATE;
    f := CASE WHEN c.window_end > p_now THEN c.failures ELSE 0 END;
    IF f >= p_limit THEN
        UPDATE login_counters l SET refused = l.refused + 1 WHERE l.key = p_key;
        RETURN QUERY SELECT 2::bigint, c.window_end - p_now, c.refused + 1;
    ELSIF f + c.in_flight >= p_limit THEN
        RETURN QUERY SELECT 1::bigint, 0::bigint, 0::bigint;
    ELSE
        UPDATE login_counters l SET in_flight = l.in_flight + 1,
            kept_until = greatest(l.kept_until, l.window_end, p_now + p_lease)
            WHERE l.key = p_key;
        RETURN QUERY SELECT 0::bigint, 0::bigint, 0::bigint;
    END IF;
END $$;

-- end-attempt: an admitted attempt is over; a failure counts, and the first opens a window.
CREATE FUNCTION asm_end_attempt(p_key text, p_failed bigint, p_window bigint, p_now bigint, p_lease bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO login_counters (key, kept_until) VALUES (p_key, p_now + p_lease) ON CONFLICT (key) DO NOTHING;
    UPDATE login_counters l SET
        in_flight = greatest(l.in_flight - 1, 0),
        failures = CASE WHEN p_failed = 0 THEN l.failures
                        WHEN l.window_end > p_now THEN l.failures + 1 ELSE 1 END,
        refused = CASE WHEN p_failed <> 0 AND l.window_end <= p_now THEN 0 ELSE l.refused END,
        window_end = CASE WHEN p_failed <> 0 AND l.window_end <= p_now THEN p_now + p_window ELSE l.window_end END,
        kept_until = greatest(l.kept_until, p_now + p_lease,
            CASE WHEN p_failed <> 0 AND l.window_end <= p_now THEN p_now + p_window ELSE l.window_end END)
        WHERE l.key = p_key;
    RETURN 1;
END $$;
