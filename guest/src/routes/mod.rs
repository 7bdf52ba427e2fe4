//! The route table and the handlers, one module per capability. The table is the only list of
//! routes: the router, the `Allow` header of a 405, the host's metric labels and the test that
//! compares `docs/openapi.yaml` with what is served all read it.

mod account;
mod health;
mod login;
mod mfa;
pub mod page;
mod password;
mod recovery;
mod registration;
mod sessions;
pub mod views;

use crate::config::Settings;
use crate::envelope::ApiError;
use crate::host::Host;
use crate::http::{Body, Request, Response};

/// What every handler gets: the request, the host and the settings.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub host: &'a Host<'a>,
    pub settings: &'a Settings,
}

impl Ctx<'_> {
    /// The request body, unless it was too large to read.
    pub fn body(&self) -> Result<&[u8], ApiError> {
        match &self.req.body {
            Body::Empty => Ok(&[]),
            Body::Bytes(b) => Ok(b),
            Body::TooLarge => Err(ApiError::PayloadTooLarge),
        }
    }

    /// Queues a notice about a change the account's owner should know of (a new password, the
    /// second factor turned on or off). The change has happened by then, so a notice that
    /// cannot be queued is logged, not turned into an error.
    pub async fn notify(&self, notice: asm_contract::Mail) {
        let subject = notice.subject.clone();
        if let Err(e) = self.host.mailer.send(notice).await {
            eprintln!("notice \"{subject}\" was not queued: {e:?}");
        }
    }
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Register,
    Login,
    Logout,
    Me,
    ListSessions,
    RevokeOtherSessions,
    RevokeSession,
    ChangePassword,
    LoginHistory,
    ForgotPassword,
    ResetPassword,
    VerifyEmail,
    ResendVerification,
    EnrollTotp,
    ConfirmTotp,
    DisableTotp,
    NewRecoveryCodes,
    LoginMfa,
    AccountPage,
    AccountStyle,
    AccountScript,
    Healthz,
    Readyz,
}

/// A method and a path template; `{id}` stands for one non-empty path segment.
#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub action: Action,
}

const fn route(method: &'static str, path: &'static str, action: Action) -> Route {
    Route { method, path, action }
}

/// Every route the component serves.
pub const ROUTES: &[Route] = &[
    route("POST", "/auth/register", Action::Register),
    route("POST", "/auth/login", Action::Login),
    route("POST", "/auth/login/mfa", Action::LoginMfa),
    route("POST", "/auth/logout", Action::Logout),
    route("GET", "/auth/user/me", Action::Me),
    route("GET", "/auth/user/sessions", Action::ListSessions),
    route("DELETE", "/auth/user/sessions", Action::RevokeOtherSessions),
    route("DELETE", "/auth/user/sessions/{id}", Action::RevokeSession),
    route("POST", "/auth/user/password", Action::ChangePassword),
    route("GET", "/auth/user/logins", Action::LoginHistory),
    route("POST", "/auth/password/forgot", Action::ForgotPassword),
    route("POST", "/auth/password/reset", Action::ResetPassword),
    route("POST", "/auth/email/verify", Action::VerifyEmail),
    route("POST", "/auth/email/verify/resend", Action::ResendVerification),
    route("POST", "/auth/user/totp", Action::EnrollTotp),
    route("POST", "/auth/user/totp/confirm", Action::ConfirmTotp),
    route("DELETE", "/auth/user/totp", Action::DisableTotp),
    route("POST", "/auth/user/recovery-codes", Action::NewRecoveryCodes),
    route("GET", "/account", Action::AccountPage),
    route("GET", "/account/reset", Action::AccountPage),
    route("GET", "/account/verify", Action::AccountPage),
    route("GET", "/account/assets/account.css", Action::AccountStyle),
    route("GET", "/account/assets/account.js", Action::AccountScript),
    route("GET", "/healthz", Action::Healthz),
    route("GET", "/readyz", Action::Readyz),
];

/// The `{id}` a path gives a template, or None when the path does not fit it.
fn fit<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    let mut id = None;
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = Some(seg),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

/// The template a path falls under, for labels that must stay few (metrics).
pub fn template(path: &str) -> Option<&'static str> {
    ROUTES.iter().find(|r| fit(r.path, path).is_some()).map(|r| r.path)
}

/// Routes the request to its handler.
pub async fn serve(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let (method, path) = (cx.req.method.as_str(), cx.req.path.as_str());
    let mut allowed = Vec::new();
    for r in ROUTES {
        if let Some(id) = fit(r.path, path) {
            if r.method == method {
                return dispatch(r.action, id.unwrap_or_default(), cx).await;
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() { Err(ApiError::NotFound) } else { Err(ApiError::MethodNotAllowed(allowed.join(", "))) }
}

async fn dispatch(action: Action, id: &str, cx: &Ctx<'_>) -> Result<Response, ApiError> {
    match action {
        Action::Register => registration::register(cx).await,
        Action::Login => login::login(cx).await,
        Action::Logout => sessions::logout(cx).await,
        Action::Me => account::me(cx).await,
        Action::ListSessions => sessions::list(cx).await,
        Action::RevokeOtherSessions => sessions::revoke_others(cx).await,
        Action::RevokeSession => sessions::revoke(cx, id).await,
        Action::ChangePassword => password::change(cx).await,
        Action::LoginHistory => account::login_history(cx).await,
        Action::ForgotPassword => recovery::forgot(cx).await,
        Action::ResetPassword => recovery::reset(cx).await,
        Action::VerifyEmail => recovery::verify(cx).await,
        Action::ResendVerification => recovery::resend(cx).await,
        Action::EnrollTotp => mfa::enroll(cx).await,
        Action::ConfirmTotp => mfa::confirm(cx).await,
        Action::DisableTotp => mfa::disable(cx).await,
        Action::NewRecoveryCodes => mfa::new_recovery_codes(cx).await,
        Action::LoginMfa => mfa::login(cx).await,
        Action::AccountPage => page::serve(cx, &page::HTML),
        Action::AccountStyle => page::serve(cx, &page::CSS),
        Action::AccountScript => page::serve(cx, &page::JS),
        Action::Healthz => health::healthz(),
        Action::Readyz => health::readyz(cx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fit_whole_segments() {
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/abc"), Some(Some("abc")));
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/"), None);
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/a/b"), None);
        assert_eq!(fit("/auth/user/sessions", "/auth/user/sessions"), Some(None));
        assert_eq!(fit("/auth/user/sessions", "/auth/user/sessions/"), None);
        assert_eq!(template("/auth/user/sessions/xyz"), Some("/auth/user/sessions/{id}"));
        assert_eq!(template("/wp-admin"), None);
    }
}
