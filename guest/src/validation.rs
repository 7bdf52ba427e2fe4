//! Reading and checking request bodies. Every failing field is reported, not just the first.

use crate::envelope::{ApiError, FieldError};
use crate::password;
use crate::token::MailToken;
use asm_settings::PasswordHashing;
use serde_json::{Map, Value};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const FULL_NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;

/// An email address, trimmed and lower-cased: the form accounts are stored and found by.
/// Parsed once, where the request body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// An address to register: normalised, and valid, or the reason it is not.
    pub fn parse(raw: &str) -> Result<Email, String> {
        let email = normalize_email(raw);
        if email.len() > EMAIL_MAX {
            Err(format!("must be at most {EMAIL_MAX} characters"))
        } else if !valid_email(&email) {
            Err("must be a valid email address".into())
        } else {
            Ok(Email(email))
        }
    }

    /// An address to log in with: normalised; refused only when nothing like it could have been
    /// registered (saying so reveals nothing, and such text must not reach a database).
    pub fn for_login(raw: &str) -> Result<Email, &'static str> {
        let email = normalize_email(raw);
        if email.is_empty() {
            Err("is required")
        } else if email.len() > EMAIL_MAX || email.chars().any(char::is_control) {
            Err("must be a valid email address")
        } else {
            Ok(Email(email))
        }
    }

    /// An account's stored email, as the lock-out and the mail limits key it. The stores hold
    /// only emails that were valid when written, so one that is not is an internal error.
    pub fn of_account(stored: &str) -> Result<Email, ApiError> {
        Email::for_login(stored).map_err(|e| ApiError::Internal(format!("stored email: {e}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub email: Email,
    pub username: String,
    pub password: String,
    pub full_name: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub email: Email,
    pub password: String,
}

/// Debug output for what carries a password or a code: the other fields, never those.
macro_rules! redacted_debug {
    ($name:ident { $($shown:ident),* } hides { $($hidden:ident),* }) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"…"))*
                    .finish()
            }
        }
    };
}

redacted_debug!(Registration { email, username, full_name } hides { password });
redacted_debug!(Credentials { email } hides { password });
redacted_debug!(PasswordChange {} hides { current_password, new_password });
redacted_debug!(PasswordReset { token } hides { new_password });

/// Emails are stored and compared trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Parses a body as a JSON object. A key given twice in any object is refused: parsers differ
/// on which copy wins, and a body must mean one thing.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest("a JSON object body is required".into()));
    }
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("the body must be a JSON object".into())),
        Err(e) if e.is_data() => Err(ApiError::BadRequest(e.to_string())),
        Err(e) => Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
    }
}

/// A JSON value whose objects name each key once.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("the key {key:?} is given more than once")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A required string field; records a field error when it is missing or not a string.
fn string_field(obj: &Map<String, Value>, field: &'static str, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

pub fn registration(body: &[u8], hashing: PasswordHashing) -> Result<Registration, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let email = string_field(&obj, "email", &mut errors).and_then(|e| match Email::parse(&e) {
        Ok(email) => Some(email),
        Err(problem) => {
            errors.push(FieldError::new("email", problem));
            None
        }
    });
    let username = string_field(&obj, "username", &mut errors).map(|u| u.trim().to_string());
    let password = string_field(&obj, "password", &mut errors);
    let full_name = string_field(&obj, "full_name", &mut errors).map(|n| n.trim().to_string());

    if let Some(problem) = username.as_deref().and_then(username_problem) {
        errors.push(FieldError::new("username", problem));
    }
    if let Some(password) = &password {
        let problem = match (&email, &username) {
            (Some(e), Some(u)) => password::problem_for_account(password, e.as_str(), u, hashing),
            _ => password::problem(password, hashing),
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new("password", problem));
        }
    }
    if let Some(problem) = full_name.as_deref().and_then(full_name_problem) {
        errors.push(FieldError::new("full_name", problem));
    }
    match (email, username, password, full_name) {
        (Some(email), Some(username), Some(password), Some(full_name)) if errors.is_empty() => {
            Ok(Registration { email, username, password, full_name })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Why a (trimmed) username is not acceptable, or None.
fn username_problem(username: &str) -> Option<String> {
    let n = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) {
        Some(format!("must be between {USERNAME_MIN} and {USERNAME_MAX} characters"))
    } else if username.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Why a (trimmed) full name is not acceptable, or None.
fn full_name_problem(full_name: &str) -> Option<String> {
    if full_name.is_empty() {
        Some("is required".into())
    } else if full_name.chars().count() > FULL_NAME_MAX {
        Some(format!("must be at most {FULL_NAME_MAX} characters"))
    } else if full_name.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// An optional field: None when absent or null, the string when one, an error when another type.
fn optional_string(obj: &Map<String, Value>, field: &'static str, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

/// An optional boolean field.
fn optional_bool(obj: &Map<String, Value>, field: &'static str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(FieldError::new(field, "must be true or false"));
            None
        }
    }
}

/// An account an operator creates: a registration whose password is optional (without one, the
/// person is mailed a link to choose it) and whose email may be marked verified.
#[derive(Clone)]
pub struct NewAccount {
    pub email: Email,
    pub username: String,
    pub full_name: String,
    pub password: Option<String>,
    pub email_verified: bool,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

pub fn new_account(body: &[u8], hashing: PasswordHashing) -> Result<NewAccount, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let password = optional_string(&obj, "password", &mut errors);
    let email_verified = optional_bool(&obj, "email_verified", &mut errors).unwrap_or(false);
    // The rest is a registration: the same rules, every failing field listed.
    let mut fields = obj.clone();
    fields.insert("password".into(), Value::String(password.clone().unwrap_or_else(|| "unused placeholder".into())));
    let reg = match registration(&serde_json::to_vec(&Value::Object(fields)).unwrap_or_default(), hashing) {
        Ok(reg) => Some(reg),
        Err(ApiError::Validation(more)) => {
            errors.extend(more.into_iter().filter(|f| f.field != "password" || password.is_some()));
            None
        }
        Err(e) => return Err(e),
    };
    match reg {
        Some(reg) if errors.is_empty() => Ok(NewAccount {
            email: reg.email,
            username: reg.username,
            full_name: reg.full_name,
            password,
            email_verified,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The fields an operator changes, each checked as at registration; at least one.
pub fn account_changes(body: &[u8]) -> Result<asm_contract::UserChanges, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let email = optional_string(&obj, "email", &mut errors).and_then(|raw| match Email::parse(&raw) {
        Ok(email) => Some(email.into_string()),
        Err(problem) => {
            errors.push(FieldError::new("email", problem));
            None
        }
    });
    let username = optional_string(&obj, "username", &mut errors).map(|u| u.trim().to_string());
    if let Some(problem) = username.as_deref().and_then(username_problem) {
        errors.push(FieldError::new("username", problem));
    }
    let full_name = optional_string(&obj, "full_name", &mut errors).map(|n| n.trim().to_string());
    if let Some(problem) = full_name.as_deref().and_then(full_name_problem) {
        errors.push(FieldError::new("full_name", problem));
    }
    let email_verified = optional_bool(&obj, "email_verified", &mut errors);
    if errors.is_empty() && email.is_none() && username.is_none() && full_name.is_none() && email_verified.is_none() {
        errors.push(FieldError::new("email", "give at least one of email, username, full_name, email_verified"));
    }
    if errors.is_empty() {
        Ok(asm_contract::UserChanges { email, username, full_name, email_verified })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The body of an email change: the new address (as at registration) and the password.
pub fn email_change(body: &[u8]) -> Result<(Email, String), ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let email = string_field(&obj, "new_email", &mut errors)
        .and_then(|raw| Email::parse(&raw).map_err(|problem| errors.push(FieldError::new("new_email", problem))).ok());
    let password = string_field(&obj, "password", &mut errors).filter(|p| {
        if p.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        !p.is_empty()
    });
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok((email, password)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The body of an account's deletion: the password, and a second factor when one is asked for.
pub fn deletion(body: &[u8]) -> Result<(String, Option<Factor>), ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let password = string_field(&obj, "password", &mut errors).filter(|p| {
        if p.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        !p.is_empty()
    });
    let code = optional_string(&obj, "code", &mut errors).filter(|c| !c.trim().is_empty());
    let recovery = optional_string(&obj, "recovery_code", &mut errors).filter(|c| !c.trim().is_empty());
    let factor = match (code, recovery) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("code", "give either code or recovery_code"));
            None
        }
        (Some(code), None) => Some(Factor::Code(code)),
        (None, Some(code)) => Some(Factor::RecoveryCode(code)),
        (None, None) => None,
    };
    match password {
        Some(password) if errors.is_empty() => Ok((password, factor)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The `email` field of a login, read as [`Email::for_login`] reads it.
fn login_email(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Email> {
    let raw = string_field(obj, "email", errors)?;
    Email::for_login(&raw).map_err(|problem| errors.push(FieldError::new("email", problem))).ok()
}

pub fn credentials(body: &[u8]) -> Result<Credentials, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let email = login_email(&obj, &mut errors);
    let password = string_field(&obj, "password", &mut errors);
    if password.as_deref() == Some("") {
        errors.push(FieldError::new("password", "is required"));
    }
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(Credentials { email, password }),
        _ => Err(ApiError::Validation(errors)),
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// The body of a password change; the new password's rules are checked by the caller, who
/// knows the account.
pub fn password_change(body: &[u8]) -> Result<PasswordChange, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let current_password = string_field(&obj, "current_password", &mut errors);
    let new_password = string_field(&obj, "new_password", &mut errors);
    match (current_password, new_password) {
        (Some(current_password), Some(new_password)) if errors.is_empty() => {
            Ok(PasswordChange { current_password, new_password })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The `email` of a forgot-password request: a valid address, as at registration. Whether it is
/// valid says nothing about whether an account has it, and whatever is mailed goes to exactly
/// this address.
pub fn email_only(body: &[u8]) -> Result<Email, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let email = string_field(&obj, "email", &mut errors)
        .and_then(|raw| Email::parse(&raw).map_err(|problem| errors.push(FieldError::new("email", problem))).ok());
    email.filter(|_| errors.is_empty()).ok_or(ApiError::Validation(errors))
}

/// The `token` of a verification request: a mailed token's shape, or the invalid-token error (a
/// malformed token never reaches a store).
pub fn token_only(body: &[u8]) -> Result<MailToken, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let token = string_field(&obj, "token", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    token.as_deref().and_then(MailToken::parse).ok_or(ApiError::InvalidToken)
}

pub struct PasswordReset {
    pub token: MailToken,
    pub new_password: String,
}

/// The body of a password reset. The password's general rules are checked here; those that need
/// the account (not its email or name) by the caller.
pub fn password_reset(body: &[u8], hashing: PasswordHashing) -> Result<PasswordReset, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let token = string_field(&obj, "token", &mut errors);
    let new_password = string_field(&obj, "new_password", &mut errors);
    if let Some(problem) = new_password.as_deref().and_then(|p| password::problem(p, hashing)) {
        errors.push(FieldError::new("new_password", problem));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let token = token.as_deref().and_then(MailToken::parse).ok_or(ApiError::InvalidToken)?;
    Ok(PasswordReset { token, new_password: new_password.unwrap_or_default() })
}

/// A required, non-empty string field `field` of a JSON body.
pub fn one_string(body: &[u8], field: &'static str) -> Result<String, ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    match string_field(&obj, field, &mut errors) {
        Some(value) if !value.is_empty() => Ok(value),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(field, "is required")])),
        None => Err(ApiError::Validation(errors)),
    }
}

/// The second factor a login's second step brings.
pub enum Factor {
    Code(String),
    RecoveryCode(String),
}

impl std::fmt::Debug for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Factor::Code(_) => "Code(…)",
            Factor::RecoveryCode(_) => "RecoveryCode(…)",
        })
    }
}

/// The body of `POST /auth/login/mfa`: the `mfa_token` and exactly one of `code` and
/// `recovery_code`. A token of the wrong shape is a 401, as an expired one is. An empty code is
/// a 400, so a stray Enter on an empty field does not use up one of the token's tries.
pub fn mfa_login(body: &[u8]) -> Result<(MailToken, Factor), ApiError> {
    let obj = json_object(body)?;
    let mut errors = Vec::new();
    let token = string_field(&obj, "mfa_token", &mut errors);
    let present = |f: &str| !matches!(obj.get(f), None | Some(Value::Null));
    let given = |field: &'static str, errors: &mut Vec<FieldError>| {
        string_field(&obj, field, errors).filter(|v| {
            let blank = v.trim().is_empty();
            if blank {
                errors.push(FieldError::new(field, "is required"));
            }
            !blank
        })
    };
    let factor = match (present("code"), present("recovery_code")) {
        (true, false) => given("code", &mut errors).map(Factor::Code),
        (false, true) => given("recovery_code", &mut errors).map(Factor::RecoveryCode),
        _ => {
            errors.push(FieldError::new("code", "give either code or recovery_code"));
            None
        }
    };
    match (token, factor) {
        (Some(token), Some(factor)) if errors.is_empty() => {
            Ok((MailToken::parse(&token).ok_or(ApiError::MfaFailed)?, factor))
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// An address with one written form per mailbox. The crate checks RFC 5321/5322 syntax; on top,
/// only the plain forms are accepted: the local part a dot-atom (no quotes, backslashes,
/// comments or spaces, which a mail server reads away, so `"ada"@example.com` and
/// `ada@example.com` would be two accounts, and two sets of mail limits, for one mailbox), and
/// the domain a dotted host name (no address literal), since a service that sends mail needs one.
fn valid_email(email: &str) -> bool {
    let parsed = email_address::EmailAddress::parse_with_options(
        email,
        email_address::Options::default().without_display_text(),
    );
    let Some((local, domain)) = email.rsplit_once('@') else { return false };
    let atom = |c: char| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let dot_atom = |s: &str| !s.is_empty() && s.split('.').all(|part| !part.is_empty() && part.chars().all(atom));
    let label = |l: &str| {
        !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    parsed.is_ok() && dot_atom(local) && domain.contains('.') && domain.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: PasswordHashing = PasswordHashing::ARGON2ID_DEFAULT;

    fn fields(err: ApiError) -> Vec<&'static str> {
        match err {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_registration_is_normalised() {
        let r = registration(
            br#"{"email":"  Ada@Example.COM ","username":" ada ","password":"correct horse","full_name":" Ada L "}"#,
            H,
        )
        .unwrap();
        assert_eq!(r.email.as_str(), "ada@example.com");
        assert_eq!(r.username, "ada");
        assert_eq!(r.full_name, "Ada L");
        assert_eq!(r.password, "correct horse");
    }

    #[test]
    fn an_empty_second_factor_is_a_validation_error() {
        let token = "A".repeat(43);
        for body in [
            format!(r#"{{"mfa_token":"{token}","code":""}}"#),
            format!(r#"{{"mfa_token":"{token}","code":"   "}}"#),
            format!(r#"{{"mfa_token":"{token}","recovery_code":" "}}"#),
        ] {
            let err = mfa_login(body.as_bytes()).unwrap_err();
            assert!(matches!(&err, ApiError::Validation(f) if f[0].message == "is required"), "{body}: {err:?}");
        }
        assert!(mfa_login(format!(r#"{{"mfa_token":"{token}","code":"123456"}}"#).as_bytes()).is_ok());
    }

    #[test]
    fn every_failing_field_is_listed() {
        let err =
            registration(br#"{"email":"nope","username":"ab","password":"short","full_name":""}"#, H).unwrap_err();
        assert_eq!(fields(err), vec!["email", "username", "password", "full_name"]);
        let err = registration(br#"{"email":"a@b.co","username":"abc","password":"password123","full_name":"x"}"#, H)
            .unwrap_err();
        assert_eq!(fields(err), vec!["password"]);
        let err =
            registration(br#"{"email":"nope","username":"ab","password":"short","full_name":""}"#, H).unwrap_err();
        assert_eq!(fields(err), vec!["email", "username", "password", "full_name"]);
    }

    #[test]
    fn missing_and_mistyped_fields_are_validation_errors() {
        let err = registration(br#"{"email":5,"username":"abc"}"#, H).unwrap_err();
        assert_eq!(fields(err), vec!["email", "password", "full_name"]);
    }

    #[test]
    fn malformed_and_non_object_bodies_are_bad_requests() {
        for body in [&b"{"[..], b"[]", b"\"x\"", b"", b"\xff\xfe"] {
            assert!(matches!(registration(body, H), Err(ApiError::BadRequest(_))), "{body:?}");
        }
    }

    #[test]
    fn username_length_counts_characters() {
        let ok = format!(
            r#"{{"email":"a@b.co","username":"{}","password":"quiet meadow","full_name":"x"}}"#,
            "é".repeat(50)
        );
        assert!(registration(ok.as_bytes(), H).is_ok());
        let long = format!(
            r#"{{"email":"a@b.co","username":"{}","password":"quiet meadow","full_name":"x"}}"#,
            "é".repeat(51)
        );
        assert_eq!(fields(registration(long.as_bytes(), H).unwrap_err()), vec!["username"]);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for bad in ["a@b", "@b.co", "a@", "a b@c.co", "a@b.co.", "a@[127.0.0.1]", "a..b@c.co", ".a@b.co", "a@-b.co"] {
            assert!(!valid_email(bad), "{bad}");
        }
        for good in ["a@b.co", "first.last+tag@sub.example.org", "o'brien@example.ie", "jürgen@bücher.de"] {
            assert!(valid_email(good), "{good}");
        }
    }

    #[test]
    fn forms_a_mail_server_reads_as_another_mailbox_are_refused() {
        for other_form in [
            r#""ada"@example.com"#,
            r#""\a\d\a"@example.com"#,
            r#""ada@evil"@example.com"#,
            "ada(comment)@example.com",
            "(comment)ada@example.com",
            r#""a da"@example.com"#,
        ] {
            assert!(!valid_email(other_form), "{other_form}");
            assert!(Email::parse(other_form).is_err(), "{other_form}");
        }
    }

    /// Whatever holds a password or a code prints neither (`{:?}` in a log or a panic).
    #[test]
    fn debug_output_shows_no_secret() {
        let body = br#"{"email":"a@b.co","username":"abc","password":"hunter2 hunter2","full_name":"A"}"#;
        let shown = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            registration(body, H).unwrap(),
            credentials(br#"{"email":"a@b.co","password":"hunter2 hunter2"}"#).unwrap(),
            password_change(br#"{"current_password":"hunter2 hunter2","new_password":"hunter2 hunter3"}"#).unwrap(),
            new_account(body, H).unwrap(),
            Factor::RecoveryCode("hunter2".into()),
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("a@b.co"), "the rest is shown: {shown}");
    }

    #[test]
    fn operators_give_the_fields_they_change_checked_as_at_registration() {
        let changes = account_changes(br#"{"username":" ada2 ","email_verified":true}"#).unwrap();
        assert_eq!(
            (changes.username.as_deref(), changes.email_verified, changes.email),
            (Some("ada2"), Some(true), None)
        );
        assert!(matches!(account_changes(br#"{}"#), Err(ApiError::Validation(_))), "nothing to change");
        assert_eq!(
            fields(account_changes(br#"{"email":"\"x\"@b.co","username":"a"}"#).unwrap_err()),
            vec!["email", "username"]
        );
        let made = new_account(br#"{"email":"A@B.co","username":"abc","full_name":"A"}"#, H).unwrap();
        assert_eq!((made.email.as_str(), made.password.is_none()), ("a@b.co", true), "no password: a link is mailed");
        assert_eq!(
            fields(
                new_account(br#"{"email":"a@b.co","username":"abc","full_name":"A","password":"short"}"#, H)
                    .unwrap_err()
            ),
            vec!["password"]
        );
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        for body in [&br#"{"email":"a@b.co","email":"c@d.co"}"#[..], br#"{"a":{"b":1,"b":2}}"#, br#"[{"x":1,"x":1}]"#] {
            match json_object(body) {
                Err(ApiError::BadRequest(m)) => assert!(m.contains("more than once"), "{m}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(json_object(br#"{"a":{"b":1},"b":{"a":2}}"#).is_ok(), "the same key in different objects");
    }

    #[test]
    fn login_needs_both_fields() {
        assert_eq!(fields(credentials(br#"{"email":"a@b.co"}"#).unwrap_err()), vec!["password"]);
        assert_eq!(fields(credentials(br#"{"email":"","password":""}"#).unwrap_err()), vec!["email", "password"]);
        assert_eq!(credentials(br#"{"email":" A@B.co","password":"pw"}"#).unwrap().email.as_str(), "a@b.co");
        assert_eq!(
            fields(credentials(b"{\"email\":\"a\\u0000@b.co\",\"password\":\"pw\"}").unwrap_err()),
            vec!["email"]
        );
    }
}
