//! The JSON envelope every response uses, and the one error type handlers return.

use crate::http::Response;
use asm_contract::StoreError;
use serde_json::{Value, json};

/// A validation failure of one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// Everything a handler can fail with; `into_response` is the only place it becomes HTTP.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Validation(Vec<FieldError>),
    Unauthorized,
    InvalidCredentials,
    /// The password re-checked by a route was wrong; names the field.
    WrongPassword(&'static str),
    /// A second-factor step that is not possible in the account's state (409).
    StateConflict(&'static str),
    /// A TOTP code that is not the current one, at enrolment (400).
    WrongCode,
    /// The second factor re-checked by a route was wrong; names the field (401).
    WrongFactor(&'static str),
    /// The second step of a login failed: the token or the code (401).
    MfaFailed,
    Forbidden(String),
    /// No route has this path.
    NoSuchRoute,
    /// What the route names is not there (or not the caller's); says what.
    NotFound(&'static str),
    /// With the `Allow` header's value.
    MethodNotAllowed(String),
    Conflict {
        field: String,
    },
    PayloadTooLarge,
    TooManyAttempts {
        retry_after_secs: u64,
    },
    /// Too many mail requests (password reset, verification) for an email or an address.
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// A mailed token that is malformed, unknown, used, voided or expired.
    InvalidToken,
    /// The right password, but the account's email is not verified (REQUIRE_VERIFIED_EMAIL).
    EmailNotVerified,
    /// The right credentials of an account an operator disabled.
    AccountDisabled,
    /// A route that needs the operators' token, without it (or with a wrong one).
    AdminUnauthorized,
    /// A setting the route needs is missing; names it.
    NotConfigured(&'static str),
    /// The host gave no turn at hashing in time: the service is busy with sign-ins (503 with
    /// `Retry-After`).
    Busy,
    Unavailable(String),
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => ApiError::Conflict { field },
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            StoreError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl ApiError {
    pub fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(msg) => error(400, "Invalid request", Value::String(msg)),
            ApiError::Validation(fields) => {
                let list: Vec<Value> = fields.iter().map(|f| json!({"field": f.field, "message": f.message})).collect();
                error(400, "Validation failed", json!({ "fields": list }))
            }
            ApiError::Unauthorized => error(401, "Unauthorized", json!("a valid session is required")),
            ApiError::InvalidCredentials => error(401, "Login failed", json!("invalid email or password")),
            ApiError::WrongPassword(field) => {
                let message =
                    if field == "current_password" { "Password change failed" } else { "Password check failed" };
                error(401, message, json!({ "field": field, "message": "is incorrect" }))
            }
            ApiError::StateConflict(why) => error(409, "Conflict", json!(why)),
            ApiError::WrongCode => error(
                400,
                "Validation failed",
                json!({ "fields": [{ "field": "code", "message": "is not the current code" }] }),
            ),
            ApiError::MfaFailed => error(401, "Login failed", json!("invalid or expired code")),
            ApiError::WrongFactor(field) => {
                error(401, "Second factor check failed", json!({ "field": field, "message": "is incorrect" }))
            }
            ApiError::Forbidden(msg) => error(403, "Forbidden", Value::String(msg)),
            ApiError::NoSuchRoute => error(404, "Not found", json!("no such route")),
            ApiError::NotFound(what) => error(404, "Not found", json!(format!("no such {what}"))),
            ApiError::MethodNotAllowed(allow) => {
                error(405, "Method not allowed", json!("this route does not accept that method"))
                    .with_header("allow", allow)
            }
            ApiError::Conflict { field } => {
                let message = format!("{field} is already taken");
                error(409, "Already registered", json!({ "field": field, "message": message }))
            }
            ApiError::PayloadTooLarge => error(
                413,
                "Request body too large",
                json!(format!("bodies are limited to {} bytes", asm_contract::http::MAX_BODY_BYTES)),
            ),
            ApiError::TooManyAttempts { retry_after_secs } => error(
                429,
                "Too many failed login attempts",
                json!({ "message": "try again later", "retry_after": retry_after_secs }),
            )
            .with_header("retry-after", retry_after_secs.to_string()),
            ApiError::TooManyRequests { retry_after_secs } => error(
                429,
                "Too many requests",
                json!({ "message": "try again later", "retry_after": retry_after_secs }),
            )
            .with_header("retry-after", retry_after_secs.to_string()),
            ApiError::InvalidToken => error(400, "Invalid request", json!("invalid or expired token")),
            ApiError::EmailNotVerified => error(403, "Email not verified", json!("email_not_verified")),
            ApiError::AccountDisabled => error(403, "Account disabled", json!("account_disabled")),
            ApiError::AdminUnauthorized => {
                error(401, "Unauthorized", json!("an operator token is required (Authorization: Bearer <ADMIN_TOKEN>)"))
                    .with_header("www-authenticate", "Bearer")
            }
            ApiError::NotConfigured(setting) => {
                eprintln!("not configured: {setting} is required for this route");
                error(
                    503,
                    "Service temporarily unavailable",
                    json!(format!("the service is missing the {setting} setting")),
                )
            }
            ApiError::Busy => error(503, "Service busy", json!("too many sign-ins at once; try again shortly"))
                .with_header("retry-after", "1"),
            ApiError::Unavailable(detail) => {
                eprintln!("store unavailable: {detail}");
                error(503, "Service temporarily unavailable", json!("a backing store did not answer"))
                    .with_header("retry-after", "1")
            }
            ApiError::Internal(detail) => {
                eprintln!("internal error: {detail}");
                error(500, "Internal server error", json!("unexpected error"))
            }
        }
    }
}

fn base(status: u16, body: Value) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
            ("x-content-type-options".into(), "nosniff".into()),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

pub fn success(status: u16, message: &str, data: Value) -> Response {
    base(status, json!({ "status": status, "message": message, "data": data }))
}

pub fn error(status: u16, message: &str, error: Value) -> Response {
    base(status, json!({ "status": status, "message": message, "error": error }))
}
