//! The user store on PostgreSQL, over whichever client the host has: the native host drives it
//! with sqlx, the Spin adapter with Spin's `spin:postgres`. Both run the same statements with
//! the same parameters and read the same columns, so they can share one database.
//!
//! Times cross as Unix milliseconds (`float8` in, `int8` out) and ids as text, so any client
//! reads every column without timestamp or uuid types. Every statement run with
//! [`Driver::query`] returns at least one row (a miss is a row of nulls): Spin 4.0 to 4.1's
//! client never answers a query that returns none. Schema: `migrations/`.

use crate::outbox::{Backlog, HOLD_MS, Kind, Message, Outbox, Queued};
use asm_contract::*;
use base64::Engine as _;

/// A statement parameter. Uuids are bound as `uuid`, in canonical text form.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Uuid(String),
    Int(i64),
    Float(f64),
}

/// One value of a result row, as far as these statements need to tell them apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Null,
    /// Any other type, described for the error message.
    Other(String),
}

/// A result: column names, and rows of values in that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What a host supplies: a PostgreSQL client. Failures come back already mapped to
/// [`StoreError`] (see [`db_error`] and [`is_unavailable`] for the shared rules).
#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    /// Runs a statement that returns rows.
    async fn query(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows>;
    /// Runs a statement that returns none.
    async fn execute(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<()>;
    /// Runs a statement whose best plan depends on its values (a prefix search: a prefix that
    /// matches few accounts wants its index, one that matches many wants creation order). A
    /// driver that keeps statements prepared runs this one unprepared, so PostgreSQL plans it
    /// for the values given rather than settle on one plan for all of them.
    async fn query_planned_per_call(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows> {
        self.query(sql, params).await
    }
}

macro_rules! user_columns {
    () => {
        "id::text AS id, email, username, full_name, password_hash, \
         (extract(epoch FROM created_at) * 1000)::int8 AS created_at, \
         (extract(epoch FROM last_login) * 1000)::int8 AS last_login, credential_version, \
         (CASE WHEN email_verified_at IS NULL THEN 0 ELSE 1 END)::int8 AS email_verified, \
         totp_secret, (CASE WHEN totp_enabled THEN 1 ELSE 0 END)::int8 AS totp_enabled, devices_issued, \
         (CASE WHEN disabled THEN 1 ELSE 0 END)::int8 AS disabled"
    };
}

/// `$1` email, `$2` username, `$3` full name, `$4` password hash. Returns the user's columns.
pub const CREATE_USER: &str = concat!(
    "INSERT INTO users (email, username, full_name, password_hash) VALUES ($1, $2, $3, $4) RETURNING ",
    user_columns!()
);
/// `$1` email (matched case-insensitively, through the `lower(email)` index). One row, of nulls
/// when there is no such user.
pub const FIND_USER_BY_EMAIL: &str =
    concat!("SELECT ", user_columns!(), " FROM (SELECT 1) AS one LEFT JOIN users ON lower(email) = lower($1)");
/// `$1` id (uuid). One row, of nulls when there is no such user.
pub const FIND_USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM (SELECT 1) AS one LEFT JOIN users ON id = $1");
/// `$1` id (uuid), `$2` Unix ms (float8). Stamps the login and counts its device cookie; the new
/// count (null: no such user), one row in any case.
pub const RECORD_LOGIN: &str = "WITH stamped AS (UPDATE users \
    SET last_login = to_timestamp($2::float8 / 1000), devices_issued = devices_issued + 1 \
    WHERE id = $1 RETURNING devices_issued) SELECT (SELECT devices_issued FROM stamped) AS devices_issued";
/// `$1` id (uuid), `$2` password hash. The new credential version (null: no such user); one
/// row in any case. The user's outstanding reset tokens are voided in the same statement.
pub const UPDATE_PASSWORD: &str = "WITH changed AS (UPDATE users \
    SET password_hash = $2, credential_version = credential_version + 1, updated_at = now() \
    WHERE id = $1 RETURNING credential_version), \
    voided AS (DELETE FROM user_tokens WHERE user_id = $1 AND purpose IN ('password_reset', 'mfa_login') RETURNING 1) \
    SELECT (SELECT credential_version FROM changed) AS credential_version";
/// `$1` id (uuid), `$2` the hash it must still have, `$3` the new hash. How many rows changed.
pub const REHASH_PASSWORD: &str = "WITH changed AS (UPDATE users SET password_hash = $3, updated_at = now() \
    WHERE id = $1 AND password_hash = $2 RETURNING 1) SELECT count(*) AS changed FROM changed";
/// `$1` email, `$2` outcome, `$3` ip, `$4` user agent, `$5` device, `$6` location, `$7` Unix ms
/// (float8), `$8` the oldest to keep, in ms before `$7` (float8), `$9` how many to keep (int8,
/// at least 1). The account is found by email in the same statement, so an email without one
/// costs the same; the DELETE does not see the new row, hence `$9 - 1`.
pub const INSERT_LOGIN_ATTEMPT: &str = "WITH account AS (SELECT id FROM users WHERE lower(email) = lower($1)), \
    added AS (INSERT INTO login_attempts (user_id, outcome, ip_address, user_agent, device_info, location, created_at) \
      SELECT id, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000) FROM account RETURNING 1), \
    dropped AS (DELETE FROM login_attempts old USING account WHERE old.user_id = account.id AND ( \
      old.created_at < to_timestamp(($7::float8 - $8::float8) / 1000) \
      OR old.id IN (SELECT id FROM login_attempts WHERE user_id = account.id \
                    ORDER BY created_at DESC, id DESC OFFSET $9::int8 - 1)) RETURNING 1) \
    SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM dropped) AS dropped";
/// `$1` user id (uuid), `$2` offset (int8), `$3` limit (int8). Newest first, each row with the
/// total; one row of nulls but the total when the page is empty.
pub const LIST_LOGIN_ATTEMPTS: &str = "SELECT page.*, (SELECT count(*) FROM login_attempts WHERE user_id = $1) AS total \
    FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
      SELECT id::text AS id, outcome, ip_address, user_agent, device_info, location, \
        (extract(epoch FROM created_at) * 1000)::int8 AS at \
      FROM login_attempts WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3) AS page ON true";
/// `$1` email, `$2` purpose, `$3` token hash, `$4` expiry in Unix ms (float8). Keeps the token
/// for the account with this email, replacing its token of the purpose (one per account and
/// purpose, so parallel requests cannot leave two); the account's columns, or one row of nulls
/// when the email has none. Without an account the token is kept with no user (it redeems
/// nothing), so both cases write one row and commit alike.
pub const ISSUE_TOKEN: &str = concat!(
    "WITH account AS (SELECT * FROM users WHERE lower(email) = lower($1)), \
    added AS (INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at) \
      SELECT $3, (SELECT id FROM account), $2, to_timestamp($4::float8 / 1000) \
      ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = excluded.token_hash, \
        expires_at = excluded.expires_at, created_at = now() RETURNING 1) \
    SELECT (SELECT count(*) FROM added) AS added, ",
    user_columns!(),
    " FROM (SELECT 1) AS one LEFT JOIN account AS users ON true"
);
/// `$1` token hash, `$2` purpose, `$3` now in Unix ms (float8). Uses the token up (deletes its
/// row) if it is unexpired; the account's columns, or one row of nulls.
pub const CONSUME_TOKEN: &str = concat!(
    "WITH used AS (DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2 \
      AND expires_at > to_timestamp($3::float8 / 1000) RETURNING user_id) \
    SELECT ",
    user_columns!(),
    " FROM (SELECT 1) AS one LEFT JOIN users ON id = (SELECT user_id FROM used)"
);
/// As [`CONSUME_TOKEN`], leaving the token in place.
pub const PEEK_TOKEN: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM (SELECT 1) AS one LEFT JOIN users ON id = (SELECT user_id FROM user_tokens \
      WHERE token_hash = $1 AND purpose = $2 AND expires_at > to_timestamp($3::float8 / 1000))"
);
/// `$1` id (uuid). Marks the email verified (keeping the first time) and voids the account's
/// verification tokens.
pub const MARK_EMAIL_VERIFIED: &str = "WITH voided AS (DELETE FROM user_tokens \
      WHERE user_id = $1 AND purpose = 'email_verification' RETURNING 1) \
    UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1";
/// `$1` recipient, `$2` subject, `$3` text body, `$4` HTML body: a message for the outbox.
pub const QUEUE_MAIL: &str = "INSERT INTO outbox (recipient, subject, text_body, html_body) VALUES ($1, $2, $3, $4)";
/// `$1` kind, `$2` how many, `$3` the lease in ms (float8). Claims the longest-due messages of
/// the kind that no worker holds (through the index of waiting messages only), for the lease,
/// counting the attempt; other workers skip rows being claimed, and a message waits while an
/// earlier one of its order key is undelivered (so a claim never holds two of one key). Each
/// with its event's columns (nulls for mail).
pub const CLAIM: &str = "WITH claimed AS (UPDATE outbox \
    SET locked_until = now() + $3::float8 * interval '1 millisecond', attempts = attempts + 1 \
    WHERE id IN (SELECT id FROM outbox o WHERE kind = $1 AND sent_at IS NULL AND failed_at IS NULL \
      AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now()) \
      AND (order_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p WHERE p.order_key = o.order_key \
        AND p.id < o.id AND p.sent_at IS NULL AND p.failed_at IS NULL)) \
      ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
    RETURNING id, recipient, subject, text_body, html_body, attempts, created_at, event_id) \
    SELECT c.id, c.recipient, c.subject, c.text_body, c.html_body, c.attempts::int8 AS attempts, \
      (extract(epoch FROM c.created_at) * 1000)::int8 AS created_at, e.id AS event_id, e.type AS event_type, \
      e.user_id::text AS event_user_id, (extract(epoch FROM e.at) * 1000)::int8 AS event_at, \
      e.ip_address AS event_ip_address, e.data AS event_data \
    FROM claimed c LEFT JOIN events e ON e.id = c.event_id ORDER BY c.id";
/// `$1` id. The message was delivered.
pub const MAIL_SENT: &str = "UPDATE outbox SET sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = $1";
/// `$1` id, `$2` ms until the next attempt (float8), `$3` the error. Delivery failed; try later.
/// The messages waiting behind it (its order key's) are not due before it, so claims do not
/// look at them meanwhile.
pub const MAIL_RETRY: &str = "WITH r AS (UPDATE outbox SET locked_until = NULL, last_error = $3, \
      next_attempt_at = now() + $2::float8 * interval '1 millisecond' WHERE id = $1 \
      RETURNING id, order_key, next_attempt_at), \
    behind AS (UPDATE outbox o SET next_attempt_at = r.next_attempt_at FROM r \
      WHERE o.order_key = r.order_key AND o.id > r.id AND o.sent_at IS NULL AND o.failed_at IS NULL \
        AND o.next_attempt_at < r.next_attempt_at RETURNING 1) \
    SELECT count(*) AS behind FROM behind";
/// `$1` id, `$2` the error. Delivery failed for good (refused permanently, or too old).
pub const MAIL_FAILED: &str = "UPDATE outbox SET locked_until = NULL, last_error = $2, failed_at = now() WHERE id = $1";
/// `$1` event ids, comma-separated. Their held deliveries are due now.
pub const RELEASE: &str = "UPDATE outbox SET next_attempt_at = now() \
    WHERE event_id = ANY(string_to_array($1, ',')::int8[]) AND sent_at IS NULL AND next_attempt_at > now()";
/// `$1` kind. How many messages wait, and since when the oldest (Unix ms; null: none).
pub const BACKLOG: &str = "SELECT count(*)::int8 AS pending, (extract(epoch FROM min(created_at)) * 1000)::int8 AS oldest \
    FROM outbox WHERE kind = $1 AND sent_at IS NULL AND failed_at IS NULL";
/// `$1` how long ended records are kept, `$2` how long events are kept, in ms (float8). Drops
/// delivered or failed messages and expired tokens older than the first, events (and what still
/// waits to deliver them) older than the second; how many rows went.
pub const SWEEP_MAIL: &str = "WITH mail AS (DELETE FROM outbox \
      WHERE coalesce(sent_at, failed_at) < now() - $1::float8 * interval '1 millisecond' RETURNING 1), \
    tokens AS (DELETE FROM user_tokens WHERE expires_at < now() - $1::float8 * interval '1 millisecond' RETURNING 1), \
    old AS (DELETE FROM events WHERE at < now() - $2::float8 * interval '1 millisecond' RETURNING 1) \
    SELECT (SELECT count(*) FROM mail) + (SELECT count(*) FROM tokens) + (SELECT count(*) FROM old) AS swept";
/// `$1` type, `$2` user id (text, '' for none), `$3` time in Unix ms (float8), `$4` address,
/// `$5` data (JSON), `$6` 1 to queue its webhook delivery, `$7` the delivery's hold in ms
/// (float8). The event's id.
pub const APPEND_EVENT: &str = "WITH e AS (INSERT INTO events (type, user_id, at, ip_address, data) \
      VALUES ($1, nullif($2, '')::uuid, to_timestamp($3::float8 / 1000), $4, $5) RETURNING id, user_id), \
    d AS (INSERT INTO outbox (kind, event_id, order_key, recipient, subject, text_body, html_body, next_attempt_at) \
      SELECT 'webhook', e.id, e.user_id::text, '', '', '', '', now() + $7::float8 * interval '1 millisecond' \
      FROM e WHERE $6::int8 = 1 RETURNING 1) \
    SELECT id FROM e";
/// `$1` id. Takes the event back, with its delivery (`ON DELETE CASCADE`).
pub const WITHDRAW_EVENT: &str = "DELETE FROM events WHERE id = $1";
/// `$1` user id (text, '' for any), `$2` type ('' for any), `$3` ids below this only (0: no
/// bound), `$4` how many. Newest first; one row of nulls when there are none.
pub const LIST_EVENTS: &str = "SELECT e.id, e.type AS event_type, e.user_id::text AS user_id, \
      (extract(epoch FROM e.at) * 1000)::int8 AS at, e.ip_address, e.data \
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM events \
      WHERE ($1 = '' OR user_id = nullif($1, '')::uuid) AND ($2 = '' OR type = $2) AND ($3::int8 = 0 OR id < $3::int8) \
      ORDER BY id DESC LIMIT $4::int8) AS e ON true";
/// `$1` id (uuid), `$2` the sealed secret (base64). How many rows changed (0 while TOTP is on).
pub const BEGIN_TOTP: &str = "WITH s AS (UPDATE users SET totp_secret = $2, totp_last_step = 0 \
    WHERE id = $1 AND NOT totp_enabled RETURNING 1) SELECT count(*) AS changed FROM s";
/// `$1` id (uuid), `$2` the recovery-code hashes, comma-separated (hex). Turns TOTP on with the
/// pending secret and replaces the codes; how many users changed (0 or 1).
pub const ENABLE_TOTP: &str = "WITH enabled AS (UPDATE users SET totp_enabled = true \
      WHERE id = $1 AND NOT totp_enabled AND totp_secret IS NOT NULL RETURNING id), \
    gone AS (DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM enabled) RETURNING 1), \
    added AS (INSERT INTO recovery_codes (user_id, code_hash) \
      SELECT enabled.id, h FROM enabled, unnest(string_to_array($2, ',')) AS h ON CONFLICT DO NOTHING RETURNING 1) \
    SELECT count(*) AS changed FROM enabled";
/// `$1` id (uuid). TOTP off: secret, step and recovery codes go.
pub const DISABLE_TOTP: &str = "WITH gone AS (DELETE FROM recovery_codes WHERE user_id = $1 RETURNING 1) \
    UPDATE users SET totp_secret = NULL, totp_enabled = false, totp_last_step = 0 WHERE id = $1";
/// `$1` id (uuid), `$2` hashes as for [`ENABLE_TOTP`]. Replaces the codes while TOTP is on (the
/// user's row is locked meanwhile); how many users (0 or 1).
pub const REPLACE_RECOVERY_CODES: &str = "WITH u AS (SELECT id FROM users WHERE id = $1 AND totp_enabled FOR UPDATE), \
    gone AS (DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM u) RETURNING 1), \
    added AS (INSERT INTO recovery_codes (user_id, code_hash) \
      SELECT u.id, h FROM u, unnest(string_to_array($2, ',')) AS h ON CONFLICT DO NOTHING RETURNING 1) \
    SELECT count(*) AS changed FROM u";
/// `$1` id (uuid), `$2` the step (int8). Records it if it is later than the last accepted one;
/// of parallel updates, the row lock lets one through.
pub const ACCEPT_TOTP_STEP: &str = "WITH s AS (UPDATE users SET totp_last_step = $2 \
    WHERE id = $1 AND totp_secret IS NOT NULL AND totp_last_step < $2 RETURNING 1) SELECT count(*) AS changed FROM s";
/// `$1` id (uuid), `$2` the code's hash. How many codes were used up (0 or 1).
pub const USE_RECOVERY_CODE: &str = "WITH d AS (DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2 \
    RETURNING 1) SELECT count(*) AS changed FROM d";
/// `$1` the lower-cased start of an email or username with `%`, `_` and `\` escaped (empty:
/// every account), `$2` the cursor's creation time in Unix µs (float8; 0 for the first page),
/// `$3` its id (uuid; the nil uuid for the first page), `$4` how many (int8). Oldest first, each
/// row with its own cursor time; one row of nulls when there is none.
pub const SEARCH_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", (extract(epoch FROM created_at) * 1000000)::int8 AS created_us \
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM users \
      WHERE ($1 = '' OR lower(email) LIKE $1 || '%' OR lower(username) LIKE $1 || '%') \
        AND (created_at, id) > (to_timestamp($2::float8 / 1000000), $3::uuid) \
      ORDER BY created_at, id LIMIT $4) AS users ON true"
);
/// `$1` id (uuid), `$2` email, `$3` username, `$4` full name (each '' for unchanged), `$5`
/// email verified (int8: 1 yes, 0 no, -1 unchanged). A new email is unverified unless `$5`
/// says otherwise. The account's columns after the change; one row of nulls when there is none.
pub const UPDATE_USER: &str = concat!(
    "WITH changed AS (UPDATE users SET email = coalesce(nullif($2, ''), email), \
      username = coalesce(nullif($3, ''), username), full_name = coalesce(nullif($4, ''), full_name), \
      email_verified_at = CASE WHEN $5::int8 = 1 THEN coalesce(email_verified_at, now()) WHEN $5::int8 = 0 THEN NULL \
        WHEN $2 <> '' AND lower($2) <> lower(email) THEN NULL ELSE email_verified_at END, \
      updated_at = now() WHERE id = $1 RETURNING *) \
    SELECT ",
    user_columns!(),
    " FROM (SELECT 1) AS one LEFT JOIN changed AS users ON true"
);
/// `$1` id (uuid), `$2` disabled (int8, 1 or 0). Sets it and raises the credential version; the
/// new version (null: no such user), one row in any case.
pub const SET_DISABLED: &str = "WITH changed AS (UPDATE users \
    SET disabled = ($2::int8 = 1), credential_version = credential_version + 1, updated_at = now() \
    WHERE id = $1 RETURNING credential_version), \
    voided AS (DELETE FROM user_tokens WHERE user_id = $1 AND $2::int8 = 1) \
    SELECT (SELECT credential_version FROM changed) AS credential_version";
/// `$1` id (uuid). Deletes the account (its login history, tokens and recovery codes go with it,
/// `ON DELETE CASCADE`) and the mail queued to its email that no worker is sending, and empties
/// its events of all but id, type and time; how many accounts went (0 or 1).
pub const DELETE_USER: &str = "WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING email), \
    mail AS (DELETE FROM outbox WHERE kind = 'mail' AND lower(recipient) IN (SELECT lower(email) FROM gone) \
      AND (locked_until IS NULL OR locked_until < now()) RETURNING 1), \
    scrubbed AS (UPDATE events SET data = '{}', ip_address = '' WHERE user_id = $1 RETURNING 1) \
    SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM mail) AS mail";
/// `$1` id (uuid), `$2` the new email, `$3` token hash, `$4` expiry in Unix ms (float8). Keeps
/// the pending change, replacing an older one; how many rows were written (0: no such user).
pub const BEGIN_EMAIL_CHANGE: &str = "WITH added AS (INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, detail) \
      SELECT $3, id, 'email_change', to_timestamp($4::float8 / 1000), $2 FROM users WHERE id = $1 \
      ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = excluded.token_hash, \
        expires_at = excluded.expires_at, detail = excluded.detail, created_at = now() RETURNING 1) \
    SELECT count(*) AS added FROM added";
/// `$1` token hash, `$2` now in Unix ms (float8). Uses the pending change up and makes its email
/// the account's, verified, in one statement: a unique violation (the address taken meanwhile)
/// undoes both. The account's columns after, and the email before; one row of nulls when the
/// token is unknown, used or expired.
pub const CONFIRM_EMAIL_CHANGE: &str = concat!(
    "WITH used AS (DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = 'email_change' \
      AND expires_at > to_timestamp($2::float8 / 1000) RETURNING user_id, detail), \
    before AS (SELECT email FROM users WHERE id = (SELECT user_id FROM used)), \
    changed AS (UPDATE users SET email = (SELECT detail FROM used), email_verified_at = now(), updated_at = now() \
      WHERE id = (SELECT user_id FROM used) RETURNING *) \
    SELECT ",
    user_columns!(),
    ", (SELECT email FROM before) AS previous_email FROM (SELECT 1) AS one LEFT JOIN changed AS users ON true"
);
/// `$1` token hash, `$2` now in Unix ms (float8). What `CONFIRM_EMAIL_CHANGE` would do, doing
/// nothing: the account's columns, the pending `new_email` and whether another account has it
/// (`taken`, int8); one row of nulls when the token is unknown, used or expired.
pub const PEEK_EMAIL_CHANGE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", new_email, taken FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT u.*, p.detail AS new_email, \
      (CASE WHEN EXISTS (SELECT 1 FROM users o WHERE lower(o.email) = lower(p.detail) AND o.id <> p.user_id) \
        THEN 1 ELSE 0 END)::int8 AS taken \
      FROM user_tokens p JOIN users u ON u.id = p.user_id WHERE p.token_hash = $1 AND p.purpose = 'email_change' \
      AND p.expires_at > to_timestamp($2::float8 / 1000)) AS users ON true"
);
pub const PING: &str = "SELECT 1::int8 AS one";

/// SQLSTATE 23505: a unique constraint was violated.
pub const UNIQUE_VIOLATION: &str = "23505";

/// The field a unique-constraint violation is about (constraints of `migrations/`).
pub fn conflict_field(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("users_email_key") => "email",
        Some("users_username_key") => "username",
        _ => "unknown",
    }
}

/// SQLSTATEs that mean the server is going away or not accepting work: class 08 (connection
/// exception), 57P01-57P03 (shutdown, cannot connect now), 53300 (too many connections).
pub fn is_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

/// An error the server reported: unique violations are conflicts naming the field, SQLSTATEs of
/// a server going away are `Unavailable`, anything else `Internal`.
pub fn db_error(sqlstate: &str, constraint: Option<&str>, message: &str) -> StoreError {
    if sqlstate == UNIQUE_VIOLATION {
        StoreError::Conflict(conflict_field(constraint).into())
    } else if is_unavailable(sqlstate) {
        StoreError::Unavailable(format!("postgres: {message} (SQLSTATE {sqlstate})"))
    } else {
        StoreError::Internal(format!("postgres: {message} (SQLSTATE {sqlstate})"))
    }
}

/// An error known only by its text (Spin passes some server errors as the client's debug text):
/// its SQLSTATE and constraint read from the text, then mapped as [`db_error`] maps them.
pub fn text_error(text: &str) -> Option<StoreError> {
    let code = sqlstate_in(text)?;
    let constraint = CONSTRAINTS.iter().find(|c| text.contains(*c)).copied();
    Some(db_error(code, constraint, text))
}

/// The unique constraints of `migrations/`, whose violations name a field.
const CONSTRAINTS: [&str; 2] = ["users_email_key", "users_username_key"];

/// A SQLSTATE in a client's debug text: `SqlState(E23505)` or `code: "23505"`.
fn sqlstate_in(text: &str) -> Option<&str> {
    let after = |marker: &str| {
        let start = text.find(marker)? + marker.len();
        let code = text.get(start..start + 5)?;
        code.bytes().all(|b| b.is_ascii_alphanumeric()).then_some(code)
    };
    after("SqlState(E").or_else(|| after("code: \"")).or_else(|| after("code: \\\""))
}

/// The user store on a PostgreSQL client.
pub struct PostgresUsers<D> {
    driver: D,
}

impl<D: Driver> PostgresUsers<D> {
    pub fn new(driver: D) -> Self {
        PostgresUsers { driver }
    }
}

/// Ids are uuids; anything else names no user (and must not become a SQL error).
fn uuid(id: &str) -> Option<Param> {
    uuid::Uuid::parse_str(id).ok().map(|u| Param::Uuid(u.hyphenated().to_string()))
}

#[async_trait::async_trait]
impl<D: Driver> UserStore for PostgresUsers<D> {
    async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let params =
            vec![Param::Text(u.email), Param::Text(u.username), Param::Text(u.full_name), Param::Text(u.password_hash)];
        let rows = self.driver.query(CREATE_USER, params).await?;
        rows.first(user)?.ok_or_else(|| row_error("INSERT … RETURNING returned no row".into()))
    }

    async fn find_user_by_email(&self, email: String) -> StoreResult<Option<User>> {
        self.driver.query(FIND_USER_BY_EMAIL, vec![Param::Text(email)]).await?.first_present(user)
    }

    async fn find_user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let Some(id) = uuid(id.as_str()) else { return Ok(None) };
        self.driver.query(FIND_USER_BY_ID, vec![id]).await?.first_present(user)
    }

    async fn record_login(&self, user_id: UserId, at: i64) -> StoreResult<u64> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(0) };
        let rows = self.driver.query(RECORD_LOGIN, vec![id, Param::Float(at as f64)]).await?;
        let issued = rows.first(|rows, row| rows.opt_int(row, "devices_issued"))?.flatten();
        Ok(issued.unwrap_or(0).max(0) as u64)
    }

    async fn update_password(&self, user_id: UserId, password_hash: String) -> StoreResult<u64> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(0) };
        let rows = self.driver.query(UPDATE_PASSWORD, vec![id, Param::Text(password_hash)]).await?;
        let version = rows.first(|rows, row| rows.opt_int(row, "credential_version"))?.flatten();
        Ok(version.unwrap_or(0).max(0) as u64)
    }

    async fn rehash_password(&self, user_id: UserId, current_hash: String, new_hash: String) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        let params = vec![id, Param::Text(current_hash), Param::Text(new_hash)];
        let rows = self.driver.query(REHASH_PASSWORD, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "changed"))? == Some(1))
    }

    async fn record_login_attempt(&self, a: AttemptRecord, keep: Retention) -> StoreResult<()> {
        let params = vec![
            Param::Text(a.email),
            Param::Text(a.outcome.as_str().into()),
            Param::Text(a.ip_address),
            Param::Text(a.user_agent),
            Param::Text(a.device_info),
            Param::Text(a.location),
            Param::Float(a.at as f64),
            // No further back than the epoch, which every timestamp can hold.
            Param::Float(keep.max_age_ms.min(a.at.max(0) as u64) as f64),
            Param::Int(keep.max_count.max(1).into()),
        ];
        self.driver.query(INSERT_LOGIN_ATTEMPT, params).await.map(drop)
    }

    async fn list_login_attempts(&self, user_id: UserId, offset: u32, limit: u32) -> StoreResult<LoginPage> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(LoginPage { attempts: vec![], total: 0 }) };
        let params = vec![id, Param::Int(offset as i64), Param::Int(limit as i64)];
        let rows = self.driver.query(LIST_LOGIN_ATTEMPTS, params).await?;
        let total = rows.first(|rows, row| rows.int(row, "total"))?.unwrap_or(0);
        let mut attempts = Vec::with_capacity(rows.rows.len());
        for row in rows.rows.iter().filter(|row| rows.present(row)) {
            let outcome = rows.text(row, "outcome")?;
            attempts.push(LoginAttempt {
                id: rows.text(row, "id")?,
                user_id: user_id.as_str().to_string(),
                outcome: LoginOutcome::parse(&outcome)
                    .ok_or_else(|| row_error(format!("unknown login outcome {outcome:?}")))?,
                ip_address: rows.text(row, "ip_address")?,
                user_agent: rows.text(row, "user_agent")?,
                device_info: rows.text(row, "device_info")?,
                location: rows.text(row, "location")?,
                at: rows.int(row, "at")?,
            });
        }
        Ok(LoginPage { attempts, total: total.max(0) as u64 })
    }

    async fn issue_token(
        &self,
        email: String,
        purpose: TokenPurpose,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<Option<User>> {
        let params = vec![
            Param::Text(email),
            Param::Text(purpose.as_str().into()),
            Param::Text(token_hash),
            Param::Float(expires_at as f64),
        ];
        self.driver.query(ISSUE_TOKEN, params).await?.first_present(user)
    }

    async fn redeem_token(
        &self,
        purpose: TokenPurpose,
        token_hash: String,
        now: i64,
        consume: bool,
    ) -> StoreResult<Option<User>> {
        let sql = if consume { CONSUME_TOKEN } else { PEEK_TOKEN };
        let params = vec![Param::Text(token_hash), Param::Text(purpose.as_str().into()), Param::Float(now as f64)];
        self.driver.query(sql, params).await?.first_present(user)
    }

    async fn mark_email_verified(&self, user_id: UserId) -> StoreResult<()> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(()) };
        self.driver.execute(MARK_EMAIL_VERIFIED, vec![id]).await
    }

    async fn begin_totp(&self, user_id: UserId, sealed_secret: Bytes) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        self.changed(BEGIN_TOTP, vec![id, Param::Text(B64.encode(sealed_secret))]).await
    }

    async fn enable_totp(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        self.changed(ENABLE_TOTP, vec![id, code_list(recovery_code_hashes)?]).await
    }

    async fn disable_totp(&self, user_id: UserId) -> StoreResult<()> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(()) };
        self.driver.execute(DISABLE_TOTP, vec![id]).await
    }

    async fn replace_recovery_codes(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        self.changed(REPLACE_RECOVERY_CODES, vec![id, code_list(recovery_code_hashes)?]).await
    }

    async fn accept_totp_step(&self, user_id: UserId, step: u64) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        self.changed(ACCEPT_TOTP_STEP, vec![id, Param::Int(step.min(i64::MAX as u64) as i64)]).await
    }

    async fn use_recovery_code(&self, user_id: UserId, code_hash: String) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        self.changed(USE_RECOVERY_CODE, vec![id, Param::Text(code_hash)]).await
    }

    async fn search_users(&self, query: String, limit: u32, after: Cursor) -> StoreResult<UserPage> {
        let limit = limit.max(1) as usize;
        let (after_us, after_id) = match after.as_deref().and_then(|c| c.split_once(':')) {
            Some((us, id)) => (us.parse::<f64>().unwrap_or(0.0), uuid(id)),
            None => (0.0, None),
        };
        let after_id = after_id.unwrap_or_else(|| Param::Uuid(uuid::Uuid::nil().hyphenated().to_string()));
        let params =
            vec![Param::Text(like_prefix(&query)), Param::Float(after_us), after_id, Param::Int(limit as i64 + 1)];
        let rows = self.driver.query_planned_per_call(SEARCH_USERS, params).await?;
        let mut users = Vec::with_capacity(limit);
        let mut cursors = Vec::with_capacity(limit);
        for row in rows.rows.iter().filter(|row| rows.present(row)) {
            let found = user(&rows, row)?;
            cursors.push(format!("{}:{}", rows.int(row, "created_us")?, found.id));
            users.push(found);
        }
        let next = (users.len() > limit).then(|| cursors[limit - 1].clone());
        users.truncate(limit);
        Ok(UserPage { users, next })
    }

    async fn update_user(&self, user_id: UserId, changes: UserChanges) -> StoreResult<Option<User>> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(None) };
        let verified = changes.email_verified.map_or(-1, i64::from);
        let params = vec![
            id,
            Param::Text(changes.email.unwrap_or_default()),
            Param::Text(changes.username.unwrap_or_default()),
            Param::Text(changes.full_name.unwrap_or_default()),
            Param::Int(verified),
        ];
        self.driver.query(UPDATE_USER, params).await?.first_present(user)
    }

    async fn set_disabled(&self, user_id: UserId, disabled: bool) -> StoreResult<Option<u64>> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(None) };
        let rows = self.driver.query(SET_DISABLED, vec![id, Param::Int(disabled.into())]).await?;
        let version = rows.first(|rows, row| rows.opt_int(row, "credential_version"))?.flatten();
        Ok(version.map(|v| v.max(0) as u64))
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        let rows = self.driver.query(DELETE_USER, vec![id]).await?;
        Ok(rows.first(|rows, row| rows.int(row, "deleted"))? == Some(1))
    }

    async fn begin_email_change(
        &self,
        user_id: UserId,
        new_email: String,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let Some(id) = uuid(user_id.as_str()) else { return Ok(false) };
        let params = vec![id, Param::Text(new_email), Param::Text(token_hash), Param::Float(expires_at as f64)];
        let rows = self.driver.query(BEGIN_EMAIL_CHANGE, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "added"))? == Some(1))
    }

    async fn confirm_email_change(
        &self,
        token_hash: String,
        now: i64,
        apply: bool,
    ) -> StoreResult<Option<EmailChanged>> {
        if !apply {
            let rows =
                self.driver.query(PEEK_EMAIL_CHANGE, vec![Param::Text(token_hash), Param::Float(now as f64)]).await?;
            let peeked = rows.first_present(|rows, row| {
                let account = user(rows, row)?;
                Ok((account, rows.text(row, "new_email")?, rows.int(row, "taken")? != 0))
            })?;
            return match peeked {
                None => Ok(None),
                Some((_, _, true)) => Err(StoreError::Conflict("email".into())),
                Some((account, new_email, false)) => {
                    let previous_email = account.email.clone();
                    Ok(Some(EmailChanged {
                        user: User { email: new_email, email_verified: true, ..account },
                        previous_email,
                    }))
                }
            };
        }
        let rows =
            self.driver.query(CONFIRM_EMAIL_CHANGE, vec![Param::Text(token_hash), Param::Float(now as f64)]).await?;
        rows.first_present(|rows, row| {
            Ok(EmailChanged { user: user(rows, row)?, previous_email: rows.text(row, "previous_email")? })
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.driver.query(PING, vec![]).await.map(drop)
    }
}

impl<D: Driver> PostgresUsers<D> {
    /// Runs a statement that answers `changed`; whether it is above 0.
    async fn changed(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<bool> {
        let rows = self.driver.query(sql, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "changed"))?.unwrap_or(0) > 0)
    }
}

/// Recovery-code hashes as one text parameter: they are hex, so a comma cannot be in one.
fn code_list(hashes: Vec<String>) -> StoreResult<Param> {
    if hashes.iter().any(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(StoreError::Internal("recovery-code hashes must be hex".into()));
    }
    Ok(Param::Text(hashes.join(",")))
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The mailer on PostgreSQL: `send` writes the message to the outbox table, which a host's
/// delivery worker ([`PostgresOutbox`]) empties.
pub struct PostgresMailer<D> {
    driver: D,
}

impl<D: Driver> PostgresMailer<D> {
    pub fn new(driver: D) -> Self {
        PostgresMailer { driver }
    }
}

#[async_trait::async_trait]
impl<D: Driver> Mailer for PostgresMailer<D> {
    async fn send(&self, m: Mail) -> StoreResult<()> {
        let params = vec![Param::Text(m.to), Param::Text(m.subject), Param::Text(m.text), Param::Text(m.html)];
        self.driver.execute(QUEUE_MAIL, params).await
    }
}

/// The outbox table on PostgreSQL, shared by every host on the database.
pub struct PostgresOutbox<D> {
    driver: D,
}

impl<D: Driver> PostgresOutbox<D> {
    pub fn new(driver: D) -> Self {
        PostgresOutbox { driver }
    }
}

#[async_trait::async_trait]
impl<D: Driver> Outbox for PostgresOutbox<D> {
    async fn claim(&self, kind: Kind, limit: u32, lease_ms: u64) -> StoreResult<Vec<Queued>> {
        let params = vec![Param::Text(kind.as_str().into()), Param::Int(limit.into()), Param::Float(lease_ms as f64)];
        // Planned for the outbox as it is now: a backlog can grow fast while a receiver is away.
        let rows = self.driver.query_planned_per_call(CLAIM, params).await?;
        rows.rows.iter().filter(|row| rows.present(row)).map(|row| queued(&rows, row)).collect()
    }

    async fn sent(&self, id: i64) -> StoreResult<()> {
        self.driver.execute(MAIL_SENT, vec![Param::Int(id)]).await
    }

    async fn retry(&self, id: i64, after_ms: u64, error: String) -> StoreResult<()> {
        self.driver
            .query(MAIL_RETRY, vec![Param::Int(id), Param::Float(after_ms as f64), Param::Text(error)])
            .await
            .map(drop)
    }

    async fn failed(&self, id: i64, error: String) -> StoreResult<()> {
        self.driver.execute(MAIL_FAILED, vec![Param::Int(id), Param::Text(error)]).await
    }

    async fn release(&self, event_ids: Vec<i64>) -> StoreResult<()> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = event_ids.iter().map(i64::to_string).collect();
        self.driver.execute(RELEASE, vec![Param::Text(ids.join(","))]).await
    }

    async fn backlog(&self, kind: Kind) -> StoreResult<Backlog> {
        let rows = self.driver.query(BACKLOG, vec![Param::Text(kind.as_str().into())]).await?;
        let backlog = rows.first(|rows, row| {
            Ok(Backlog { pending: rows.int(row, "pending")?.max(0) as u64, oldest: rows.opt_int(row, "oldest")? })
        })?;
        Ok(backlog.unwrap_or_default())
    }

    async fn sweep(&self, keep_ms: u64, event_retention_ms: u64) -> StoreResult<u64> {
        let params = vec![Param::Float(keep_ms as f64), Param::Float(event_retention_ms as f64)];
        let rows = self.driver.query(SWEEP_MAIL, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "swept"))?.unwrap_or(0).max(0) as u64)
    }
}

/// A claimed outbox row (`id`, `recipient`, `subject`, `text_body`, `html_body`, `attempts`,
/// `created_at`, and for a webhook its event's `event_*` columns), as every SQL outbox returns it.
pub fn queued(rows: &Rows, row: &[Value]) -> StoreResult<Queued> {
    let message = match rows.opt_int(row, "event_id")? {
        Some(id) => Message::Webhook(Event {
            id,
            event_type: event_type(&rows.text(row, "event_type")?)?,
            user_id: rows.opt_text(row, "event_user_id")?,
            at: rows.int(row, "event_at")?,
            ip_address: rows.text(row, "event_ip_address")?,
            data: rows.text(row, "event_data")?,
        }),
        None => Message::Mail(Mail {
            to: rows.text(row, "recipient")?,
            subject: rows.text(row, "subject")?,
            text: rows.text(row, "text_body")?,
            html: rows.text(row, "html_body")?,
        }),
    };
    Ok(Queued {
        id: rows.int(row, "id")?,
        message,
        attempts: rows.int(row, "attempts")?.clamp(0, u32::MAX.into()) as u32,
        queued_at: rows.int(row, "created_at")?,
    })
}

fn event_type(name: &str) -> StoreResult<EventType> {
    EventType::parse(name).ok_or_else(|| row_error(format!("unknown event type {name:?}")))
}

/// The events table on PostgreSQL. With webhooks on, each event's delivery is written with it,
/// held for [`HOLD_MS`] unless the host releases it sooner.
pub struct PostgresEvents<D> {
    driver: D,
    webhooks: bool,
}

impl<D: Driver> PostgresEvents<D> {
    pub fn new(driver: D, webhooks: bool) -> Self {
        PostgresEvents { driver, webhooks }
    }
}

#[async_trait::async_trait]
impl<D: Driver> Events for PostgresEvents<D> {
    async fn append(&self, e: NewEvent) -> StoreResult<i64> {
        // An account id that is not a uuid names no account of this store.
        let user = e.user_id.filter(|u| uuid(u).is_some()).unwrap_or_default();
        let params = vec![
            Param::Text(e.event_type.as_str().into()),
            Param::Text(user),
            Param::Float(e.at as f64),
            Param::Text(e.ip_address),
            Param::Text(e.data),
            Param::Int(self.webhooks.into()),
            Param::Float(HOLD_MS as f64),
        ];
        let rows = self.driver.query(APPEND_EVENT, params).await?;
        rows.first(|rows, row| rows.int(row, "id"))?.ok_or_else(|| row_error("the event got no id".into()))
    }

    async fn withdraw(&self, id: i64) -> StoreResult<()> {
        self.driver.execute(WITHDRAW_EVENT, vec![Param::Int(id)]).await
    }

    async fn list_events(&self, filter: EventFilter, limit: u32, after: Cursor) -> StoreResult<EventPage> {
        let limit = limit.max(1) as usize;
        let user = match filter.user_id {
            Some(u) if uuid(&u).is_none() => return Ok(EventPage { events: Vec::new(), next: None }),
            Some(u) => u,
            None => String::new(),
        };
        let before = after.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0).max(0);
        let params = vec![
            Param::Text(user),
            Param::Text(filter.event_type.map(|t| t.as_str().to_string()).unwrap_or_default()),
            Param::Int(before),
            Param::Int(limit as i64 + 1),
        ];
        let rows = self.driver.query_planned_per_call(LIST_EVENTS, params).await?;
        let mut events = rows
            .rows
            .iter()
            .filter(|row| rows.present(row))
            .map(|row| {
                Ok(Event {
                    id: rows.int(row, "id")?,
                    event_type: event_type(&rows.text(row, "event_type")?)?,
                    user_id: rows.opt_text(row, "user_id")?,
                    at: rows.int(row, "at")?,
                    ip_address: rows.text(row, "ip_address")?,
                    data: rows.text(row, "data")?,
                })
            })
            .collect::<StoreResult<Vec<Event>>>()?;
        let next = (events.len() > limit).then(|| events[limit - 1].id.to_string());
        events.truncate(limit);
        Ok(EventPage { events, next })
    }
}

fn user(rows: &Rows, row: &[Value]) -> StoreResult<User> {
    Ok(User {
        id: rows.text(row, "id")?,
        email: rows.text(row, "email")?,
        username: rows.text(row, "username")?,
        full_name: rows.text(row, "full_name")?,
        password_hash: rows.text(row, "password_hash")?,
        created_at: rows.int(row, "created_at")?,
        last_login: rows.opt_int(row, "last_login")?,
        credential_version: rows.int(row, "credential_version")?.max(0) as u64,
        email_verified: rows.int(row, "email_verified")? != 0,
        totp_secret: rows
            .opt_text(row, "totp_secret")?
            .map(|s| B64.decode(s).map_err(|e| row_error(format!("totp_secret is not base64: {e}"))))
            .transpose()?,
        totp_enabled: rows.int(row, "totp_enabled")? != 0,
        devices_issued: rows.int(row, "devices_issued")?.max(0) as u64,
        disabled: rows.int(row, "disabled")? != 0,
    })
}

/// The text a LIKE pattern matches literally: `%`, `_` and the escape character escaped.
pub fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Rows {
    /// The first row decoded, if there is one.
    pub fn first<T>(&self, decode: impl FnOnce(&Rows, &[Value]) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.rows.first().map(|row| decode(self, row)).transpose()
    }

    /// The first row that is not the null row of a miss (its `id` is not null), decoded.
    pub fn first_present<T>(&self, decode: impl FnOnce(&Rows, &[Value]) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.rows.iter().find(|row| self.present(row)).map(|row| decode(self, row)).transpose()
    }

    /// Whether a row holds a record rather than the nulls of a miss.
    pub fn present(&self, row: &[Value]) -> bool {
        !matches!(self.value(row, "id"), Ok(Value::Null))
    }

    fn value(&self, row: &[Value], column: &str) -> StoreResult<Value> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| row_error(format!("no column named {column:?}")))?;
        row.get(i).cloned().ok_or_else(|| row_error(format!("no value for column {column:?}")))
    }

    pub fn text(&self, row: &[Value], column: &str) -> StoreResult<String> {
        match self.value(row, column)? {
            Value::Text(s) => Ok(s),
            other => Err(mismatch(column, "text", &other)),
        }
    }

    pub fn opt_text(&self, row: &[Value], column: &str) -> StoreResult<Option<String>> {
        match self.value(row, column)? {
            Value::Text(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Err(mismatch(column, "text", &other)),
        }
    }

    pub fn int(&self, row: &[Value], column: &str) -> StoreResult<i64> {
        match self.value(row, column)? {
            Value::Int(n) => Ok(n),
            other => Err(mismatch(column, "int8", &other)),
        }
    }

    pub fn opt_int(&self, row: &[Value], column: &str) -> StoreResult<Option<i64>> {
        match self.value(row, column)? {
            Value::Int(n) => Ok(Some(n)),
            Value::Null => Ok(None),
            other => Err(mismatch(column, "int8", &other)),
        }
    }
}

fn row_error(detail: String) -> StoreError {
    StoreError::Internal(format!("postgres row: {detail}"))
}

fn mismatch(column: &str, expected: &str, got: &Value) -> StoreError {
    row_error(format!("column {column:?}: expected {expected}, got {got:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    /// Records what would be sent and answers with canned rows.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<(&'static str, Vec<Param>)>>,
        answer: Mutex<Rows>,
    }

    #[async_trait::async_trait]
    impl Driver for Recorder {
        async fn query(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows> {
            self.sent.lock().unwrap().push((sql, params));
            Ok(self.answer.lock().unwrap().clone())
        }
        async fn execute(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<()> {
            self.sent.lock().unwrap().push((sql, params));
            Ok(())
        }
    }

    fn user_rows(last_login: Value) -> Rows {
        Rows {
            columns: [
                "id",
                "email",
                "username",
                "full_name",
                "password_hash",
                "created_at",
                "last_login",
                "credential_version",
                "email_verified",
                "totp_secret",
                "totp_enabled",
                "devices_issued",
                "disabled",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![vec![
                Value::Text(ID.into()),
                Value::Text("ada@example.com".into()),
                Value::Text("ada".into()),
                Value::Text("Ada Lovelace".into()),
                Value::Text("$2b$12$hash".into()),
                Value::Int(1_700_000_000_123),
                last_login,
                Value::Int(3),
                Value::Int(1),
                Value::Null,
                Value::Int(0),
                Value::Int(4),
                Value::Int(0),
            ]],
        }
    }

    #[test]
    fn statements_are_sent_with_typed_parameters() {
        let store = PostgresUsers::new(Recorder::default());
        *store.driver.answer.lock().unwrap() = user_rows(Value::Null);
        let u = complete(store.find_user_by_id(ID.to_uppercase().into())).unwrap().unwrap();
        assert_eq!((u.id.as_str(), u.last_login), (ID, None));
        complete(store.record_login(ID.into(), 1_700_000_000_123)).unwrap();
        let sent = store.driver.sent.lock().unwrap().clone();
        // Upper-case uuids are accepted as uuid::Uuid::parse_str does, and bound in canonical form.
        assert_eq!(sent[0], (FIND_USER_BY_ID, vec![Param::Uuid(ID.into())]));
        assert_eq!(sent[1], (RECORD_LOGIN, vec![Param::Uuid(ID.into()), Param::Float(1_700_000_000_123.0)]));
    }

    #[test]
    fn ids_that_are_not_uuids_name_nothing_and_send_nothing() {
        let store = PostgresUsers::new(Recorder::default());
        assert_eq!(complete(store.find_user_by_id("42".into())).unwrap(), None);
        complete(store.record_login("' OR 1=1 --".into(), 0)).unwrap();
        let page = complete(store.list_login_attempts("x".into(), 0, 10)).unwrap();
        assert_eq!((page.attempts.len(), page.total), (0, 0));
        assert!(store.driver.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn rows_decode_strictly() {
        let rows = user_rows(Value::Other("Datetime".into()));
        let Err(StoreError::Internal(m)) = rows.first(user) else { panic!() };
        assert!(m.contains("last_login"), "{m}");
        assert_eq!(user_rows(Value::Int(5)).first(user).unwrap().unwrap().last_login, Some(5));
        assert_eq!(Rows::default().first(user).unwrap(), None);
    }

    /// What Spin 4.1 passes for a duplicate email: the driver's debug text, as `Text`.
    const SPIN_DUPLICATE: &str = include_str!("../testdata/spin-duplicate-email.txt");

    #[test]
    fn errors_known_only_by_their_text_map_like_structured_ones() {
        assert_eq!(text_error(SPIN_DUPLICATE), Some(StoreError::Conflict("email".into())));
        let username = SPIN_DUPLICATE.replace("users_email_key", "users_username_key");
        assert_eq!(text_error(&username), Some(StoreError::Conflict("username".into())));
        let shutdown = r#"Error { kind: Db, cause: Some(DbError { severity: "FATAL", code: SqlState(E57P01), message: "terminating connection" }) }"#;
        assert!(matches!(text_error(shutdown), Some(StoreError::Unavailable(_))));
        assert_eq!(text_error("Error { kind: Closed, cause: None }"), None, "no SQLSTATE: the caller decides");
    }

    #[test]
    fn errors_map_by_sqlstate_and_constraint() {
        assert_eq!(db_error("23505", Some("users_email_key"), "dup"), StoreError::Conflict("email".into()));
        assert_eq!(db_error("23505", Some("users_username_key"), "dup"), StoreError::Conflict("username".into()));
        assert_eq!(db_error("23505", None, "dup"), StoreError::Conflict("unknown".into()));
        assert!(matches!(db_error("57P01", None, "terminating"), StoreError::Unavailable(_)));
        assert!(matches!(db_error("08006", None, "gone"), StoreError::Unavailable(_)));
        assert!(matches!(db_error("42P01", None, "no such table"), StoreError::Internal(_)));
    }
}
