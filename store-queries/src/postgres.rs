//! PostgreSQL statements of the user store. Times cross as Unix milliseconds (`int8`), ids as
//! text, so any driver can read every column without timestamp or uuid types.

macro_rules! user_columns {
    () => {
        "id::text AS id, email, username, full_name, password_hash, \
         (extract(epoch FROM created_at) * 1000)::int8 AS created_at, \
         (extract(epoch FROM last_login) * 1000)::int8 AS last_login"
    };
}

/// `$1` email, `$2` username, `$3` full name, `$4` password hash. Returns the user's columns.
pub const CREATE_USER: &str = concat!(
    "INSERT INTO users (email, username, full_name, password_hash) VALUES ($1, $2, $3, $4) RETURNING ",
    user_columns!()
);
/// `$1` email (matched case-insensitively, through the `lower(email)` index).
pub const FIND_USER_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE lower(email) = lower($1)");
/// `$1` id (uuid).
pub const FIND_USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
/// `$1` id (uuid), `$2` Unix ms (float8).
pub const RECORD_LOGIN: &str = "UPDATE users SET last_login = to_timestamp($2::float8 / 1000) WHERE id = $1";
/// `$1` id (uuid), `$2` password hash.
pub const UPDATE_PASSWORD: &str = "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1";
/// `$1` user id (uuid), `$2` outcome, `$3` ip, `$4` user agent, `$5` device, `$6` location, `$7` Unix ms (float8).
pub const INSERT_LOGIN_ATTEMPT: &str = "INSERT INTO login_attempts \
    (user_id, outcome, ip_address, user_agent, device_info, location, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000))";
/// `$1` user id (uuid), `$2` offset (int8), `$3` limit (int8). Newest first, with the total.
pub const LIST_LOGIN_ATTEMPTS: &str = "SELECT id::text AS id, outcome, ip_address, user_agent, device_info, location, \
    (extract(epoch FROM created_at) * 1000)::int8 AS at, count(*) OVER () AS total \
    FROM login_attempts WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3";
/// `$1` user id (uuid): the total when the page asked for is past the end.
pub const COUNT_LOGIN_ATTEMPTS: &str = "SELECT count(*) FROM login_attempts WHERE user_id = $1";
pub const PING: &str = "SELECT 1";

/// The field a unique-constraint violation is about (constraints of `migrations/`).
pub fn conflict_field(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("users_email_key") => "email",
        Some("users_username_key") => "username",
        _ => "unknown",
    }
}

/// SQLSTATE 23505: a unique constraint was violated.
pub const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATEs that mean the server is going away or not accepting work: class 08 (connection
/// exception), 57P01-57P03 (shutdown, cannot connect now), 53300 (too many connections).
pub fn is_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_read_users_the_same_way() {
        for sql in [CREATE_USER, FIND_USER_BY_EMAIL, FIND_USER_BY_ID] {
            assert!(sql.contains("id::text AS id") && sql.contains("AS last_login"), "{sql}");
        }
        assert_eq!(conflict_field(Some("users_username_key")), "username");
        assert!(is_unavailable("08006") && is_unavailable("57P01") && !is_unavailable("23505"));
    }
}
