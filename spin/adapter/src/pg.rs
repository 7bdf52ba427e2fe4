//! The user store's statements with their parameters, row decoding and error mapping, for
//! Spin's `spin:postgres/postgres@4.0.0`. The SQL is `asm_store_queries::postgres`, the text
//! the native host runs; parameters and columns are typed the same way (uuid ids, Unix ms as
//! `float8` in and `int8` out), so both hosts read and write identical rows.

use crate::StoreResult;
use crate::bindings::exports::asm::auth::types::{LoginAttempt, NewUser, StoreError, User};
use asm_store_queries::postgres as q;

/// A statement parameter, as Spin binds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    /// A uuid in canonical text form (Spin binds it as `uuid`).
    Uuid(String),
    F64(f64),
    I64(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

fn stmt(sql: &'static str, params: Vec<Param>) -> Statement {
    Statement { sql, params }
}

/// Ids are UUIDs; anything else names no user (and must not become a SQL error), as natively.
fn uuid(id: &str) -> Option<Param> {
    uuid::Uuid::parse_str(id).ok().map(|u| Param::Uuid(u.hyphenated().to_string()))
}

pub fn create_user(u: &NewUser) -> Statement {
    stmt(
        q::CREATE_USER,
        vec![
            Param::Str(u.email.clone()),
            Param::Str(u.username.clone()),
            Param::Str(u.full_name.clone()),
            Param::Str(u.password_hash.clone()),
        ],
    )
}

pub fn find_user_by_email(email: &str) -> Statement {
    stmt(q::FIND_USER_BY_EMAIL, vec![Param::Str(email.to_string())])
}

/// None: the id is not a uuid, so there is no such user.
pub fn find_user_by_id(id: &str) -> Option<Statement> {
    Some(stmt(q::FIND_USER_BY_ID, vec![uuid(id)?]))
}

/// None: not a uuid, nothing to stamp.
pub fn record_login(user_id: &str, at_ms: i64) -> Option<Statement> {
    Some(stmt(q::RECORD_LOGIN, vec![uuid(user_id)?, Param::F64(at_ms as f64)]))
}

pub fn update_password(user_id: &str, password_hash: &str) -> Option<Statement> {
    Some(stmt(q::UPDATE_PASSWORD, vec![uuid(user_id)?, Param::Str(password_hash.to_string())]))
}

pub fn record_login_attempt(a: &LoginAttempt) -> Option<Statement> {
    Some(stmt(
        q::INSERT_LOGIN_ATTEMPT,
        vec![
            uuid(&a.user_id)?,
            Param::Str(a.outcome.clone()),
            Param::Str(a.ip_address.clone()),
            Param::Str(a.user_agent.clone()),
            Param::Str(a.device_info.clone()),
            Param::Str(a.location.clone()),
            Param::F64(a.at as f64),
        ],
    ))
}

/// None: not a uuid, so the page is empty with a total of 0.
pub fn list_login_attempts(user_id: &str, offset: u32, limit: u32) -> Option<Statement> {
    Some(stmt(q::LIST_LOGIN_ATTEMPTS, vec![uuid(user_id)?, Param::I64(offset as i64), Param::I64(limit as i64)]))
}

pub fn count_login_attempts(user_id: &str) -> Option<Statement> {
    Some(stmt(q::COUNT_LOGIN_ATTEMPTS, vec![uuid(user_id)?]))
}

pub fn ping() -> Statement {
    stmt(q::PING, vec![])
}

/// One value of a result row, as far as these statements need to tell them apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Str(String),
    Int(i64),
    Null,
    /// Any other type, described for the error message.
    Other(String),
}

/// A result set: column names and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    fn cell(&self, row: &[Cell], column: &str) -> StoreResult<Cell> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| row_error(format!("no column named {column:?}")))?;
        row.get(i).cloned().ok_or_else(|| row_error(format!("no value for column {column:?}")))
    }

    fn string(&self, row: &[Cell], column: &str) -> StoreResult<String> {
        match self.cell(row, column)? {
            Cell::Str(s) => Ok(s),
            other => Err(mismatch(column, "text", &other)),
        }
    }

    fn int(&self, row: &[Cell], column: &str) -> StoreResult<i64> {
        match self.cell(row, column)? {
            Cell::Int(n) => Ok(n),
            other => Err(mismatch(column, "int8", &other)),
        }
    }

    fn opt_int(&self, row: &[Cell], column: &str) -> StoreResult<Option<i64>> {
        match self.cell(row, column)? {
            Cell::Int(n) => Ok(Some(n)),
            Cell::Null => Ok(None),
            other => Err(mismatch(column, "int8", &other)),
        }
    }
}

fn row_error(detail: String) -> StoreError {
    StoreError::Internal(format!("postgres row: {detail}"))
}

fn mismatch(column: &str, expected: &str, got: &Cell) -> StoreError {
    row_error(format!("column {column:?}: expected {expected}, got {got:?}"))
}

fn user(rows: &Rows, row: &[Cell]) -> StoreResult<User> {
    Ok(User {
        id: rows.string(row, "id")?,
        email: rows.string(row, "email")?,
        username: rows.string(row, "username")?,
        full_name: rows.string(row, "full_name")?,
        password_hash: rows.string(row, "password_hash")?,
        created_at: rows.int(row, "created_at")?,
        last_login: rows.opt_int(row, "last_login")?,
    })
}

/// The user of the first row, if any (`fetch_optional` natively).
pub fn first_user(rows: &Rows) -> StoreResult<Option<User>> {
    rows.rows.first().map(|row| user(rows, row)).transpose()
}

/// The user `INSERT … RETURNING` gave back (`fetch_one` natively: no row is an error).
pub fn created_user(rows: &Rows) -> StoreResult<User> {
    first_user(rows)?.ok_or_else(|| {
        StoreError::Internal("postgres: no rows returned by a query that expected to return at least one row".into())
    })
}

/// The attempts of one page and the total the window function counted (0 for an empty page).
pub fn login_page(rows: &Rows, user_id: &str) -> StoreResult<(Vec<LoginAttempt>, i64)> {
    let mut total = 0;
    let mut attempts = Vec::with_capacity(rows.rows.len());
    for row in &rows.rows {
        total = rows.int(row, "total")?;
        attempts.push(LoginAttempt {
            id: rows.string(row, "id")?,
            user_id: user_id.to_string(),
            outcome: rows.string(row, "outcome")?,
            ip_address: rows.string(row, "ip_address")?,
            user_agent: rows.string(row, "user_agent")?,
            device_info: rows.string(row, "device_info")?,
            location: rows.string(row, "location")?,
            at: rows.int(row, "at")?,
        });
    }
    Ok((attempts, total))
}

/// The single `count(*)` of `COUNT_LOGIN_ATTEMPTS`.
pub fn count(rows: &Rows) -> StoreResult<i64> {
    match rows.rows.first().and_then(|r| r.first()) {
        Some(Cell::Int(n)) => Ok(*n),
        other => Err(row_error(format!("count: expected int8, got {other:?}"))),
    }
}

/// The total page count as the contract reports it.
pub fn total(n: i64) -> u64 {
    n.max(0) as u64
}

// Errors, mapped as host/src/stores/postgres.rs maps sqlx's.

/// `open` failed: bad address, host not in `allowed_outbound_hosts`, refused, authentication,
/// too many connections. Natively these are pool/IO errors: `unavailable`.
pub fn connection_failed(detail: &str) -> StoreError {
    StoreError::Unavailable(format!("postgres: {detail}"))
}

/// The server answered with an error: unique violations are conflicts naming the field (from
/// the constraint Spin reports in `extras`), SQLSTATEs of a server going away are
/// `unavailable`, anything else is `internal`.
pub fn db_error(code: &str, extras: &[(String, String)], message: &str) -> StoreError {
    if code == q::UNIQUE_VIOLATION {
        let constraint = extras.iter().find(|(k, _)| k == "constraint").map(|(_, v)| v.as_str());
        StoreError::Conflict(q::conflict_field(constraint).into())
    } else if q::is_unavailable(code) {
        StoreError::Unavailable(format!("postgres: {message} (SQLSTATE {code})"))
    } else {
        StoreError::Internal(format!("postgres: {message} (SQLSTATE {code})"))
    }
}

/// A query failed without a server error. Spin passes tokio-postgres's `{:?}`
/// (`Error { kind: Closed, cause: None }`): I/O, a closed connection, TLS, connecting, timing
/// out and protocol confusion are `unavailable` (sqlx's Io/Tls/Protocol/PoolClosed natively);
/// anything else (a value that does not convert, a result over Spin's limit) is `internal`.
pub fn query_failed(text: &str) -> StoreError {
    const GONE: [&str; 6] =
        ["kind: Io", "kind: Closed", "kind: Tls", "kind: Connect", "kind: Timeout", "kind: UnexpectedMessage"];
    if GONE.iter().any(|k| text.contains(k)) {
        StoreError::Unavailable(format!("postgres: {text}"))
    } else {
        StoreError::Internal(format!("postgres: {text}"))
    }
}

/// A parameter that did not convert, or any other failure: `internal`.
pub fn other(text: &str) -> StoreError {
    StoreError::Internal(format!("postgres: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    fn user_rows(last_login: Cell) -> Rows {
        Rows {
            columns: ["id", "email", "username", "full_name", "password_hash", "created_at", "last_login"]
                .map(String::from)
                .to_vec(),
            rows: vec![vec![
                Cell::Str(ID.into()),
                Cell::Str("ada@example.com".into()),
                Cell::Str("ada".into()),
                Cell::Str("Ada Lovelace".into()),
                Cell::Str("$2b$12$hash".into()),
                Cell::Int(1_700_000_000_123),
                last_login,
            ]],
        }
    }

    #[test]
    fn statements_are_the_shared_text_with_typed_parameters() {
        let new = NewUser {
            email: "ada@example.com".into(),
            username: "ada".into(),
            full_name: "Ada".into(),
            password_hash: "h".into(),
        };
        let s = create_user(&new);
        assert_eq!(s.sql, q::CREATE_USER);
        assert_eq!(s.params[1], Param::Str("ada".into()));
        assert_eq!(find_user_by_email("A@b.c").params, vec![Param::Str("A@b.c".into())]);

        // Upper-case or braced uuids are accepted like uuid::Uuid::parse_str does natively,
        // and always bound in canonical form.
        let s = find_user_by_id(&ID.to_uppercase()).unwrap();
        assert_eq!((s.sql, s.params), (q::FIND_USER_BY_ID, vec![Param::Uuid(ID.into())]));
        let s = record_login(ID, 1_700_000_000_123).unwrap();
        assert_eq!(s.params, vec![Param::Uuid(ID.into()), Param::F64(1_700_000_000_123.0)]);
        let s = list_login_attempts(ID, 20, 10).unwrap();
        assert_eq!(s.params, vec![Param::Uuid(ID.into()), Param::I64(20), Param::I64(10)]);
        assert_eq!(update_password(ID, "h2").unwrap().sql, q::UPDATE_PASSWORD);
        assert_eq!(count_login_attempts(ID).unwrap().sql, q::COUNT_LOGIN_ATTEMPTS);
        assert_eq!(ping().sql, q::PING);
    }

    #[test]
    fn ids_that_are_not_uuids_name_nothing() {
        assert_eq!(find_user_by_id("42"), None);
        assert_eq!(record_login("' OR 1=1 --", 0), None);
        assert_eq!(update_password("", "h"), None);
        assert_eq!(list_login_attempts("x", 0, 10), None);
        let a = LoginAttempt {
            id: String::new(),
            user_id: "nope".into(),
            outcome: "success".into(),
            ip_address: "1.2.3.4".into(),
            user_agent: "ua".into(),
            device_info: "d".into(),
            location: "l".into(),
            at: 5,
        };
        assert_eq!(record_login_attempt(&a), None);
        let a = LoginAttempt { user_id: ID.into(), ..a };
        let s = record_login_attempt(&a).unwrap();
        assert_eq!(s.params.len(), 7);
        assert_eq!(s.params[6], Param::F64(5.0));
    }

    #[test]
    fn users_decode_from_rows() {
        let u = first_user(&user_rows(Cell::Null)).unwrap().unwrap();
        assert_eq!((u.id.as_str(), u.created_at, u.last_login), (ID, 1_700_000_000_123, None));
        let u = created_user(&user_rows(Cell::Int(5))).unwrap();
        assert_eq!(u.last_login, Some(5));
        assert_eq!(first_user(&Rows::default()).unwrap(), None);
        assert!(matches!(created_user(&Rows { columns: vec![], rows: vec![] }), Err(StoreError::Internal(_))));
        let Err(StoreError::Internal(m)) = first_user(&user_rows(Cell::Other("Datetime".into()))) else { panic!() };
        assert!(m.contains("last_login"), "{m}");
    }

    #[test]
    fn login_pages_decode_with_their_total() {
        let rows = Rows {
            columns: ["id", "outcome", "ip_address", "user_agent", "device_info", "location", "at", "total"]
                .map(String::from)
                .to_vec(),
            rows: (0..2)
                .map(|i| {
                    vec![
                        Cell::Str(format!("a{i}")),
                        Cell::Str("success".into()),
                        Cell::Str("1.2.3.4".into()),
                        Cell::Str("ua".into()),
                        Cell::Str("Firefox on Linux".into()),
                        Cell::Str("Local".into()),
                        Cell::Int(100 - i),
                        Cell::Int(7),
                    ]
                })
                .collect(),
        };
        let (attempts, n) = login_page(&rows, ID).unwrap();
        assert_eq!((attempts.len(), n, attempts[1].at, attempts[0].user_id.as_str()), (2, 7, 99, ID));
        assert_eq!(login_page(&Rows::default(), ID).unwrap(), (vec![], 0));
        assert_eq!(count(&Rows { columns: vec!["count".into()], rows: vec![vec![Cell::Int(3)]] }).unwrap(), 3);
        assert!(count(&Rows::default()).is_err());
        assert_eq!((total(-1), total(9)), (0, 9));
    }

    #[test]
    fn errors_map_like_the_native_store() {
        let extras =
            |c: &str| vec![("table".to_string(), "users".to_string()), ("constraint".to_string(), c.to_string())];
        assert_eq!(db_error("23505", &extras("users_email_key"), "dup"), StoreError::Conflict("email".into()));
        assert_eq!(db_error("23505", &extras("users_username_key"), "dup"), StoreError::Conflict("username".into()));
        assert_eq!(db_error("23505", &[], "dup"), StoreError::Conflict("unknown".into()));
        assert!(matches!(db_error("57P01", &[], "terminating"), StoreError::Unavailable(_)));
        assert!(matches!(db_error("08006", &[], "gone"), StoreError::Unavailable(_)));
        assert!(matches!(db_error("42P01", &[], "no such table"), StoreError::Internal(_)));
        assert!(matches!(connection_failed("address postgres://h:1 is not permitted"), StoreError::Unavailable(_)));
        assert!(matches!(query_failed("Error { kind: Closed, cause: None }"), StoreError::Unavailable(_)));
        assert!(matches!(
            query_failed("Error { kind: Io, cause: Some(Os { code: 104 }) }"),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(query_failed("Error { kind: FromSql(0), cause: Some(WrongType) }"), StoreError::Internal(_)));
        assert!(matches!(other("bad parameter"), StoreError::Internal(_)));
    }
}
