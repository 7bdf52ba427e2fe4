//! The mail the component writes: a password-reset link, a verification link, the note an
//! address without an account gets when someone asks to reset its password, and the notices of
//! changes to how the account signs in. Each is plain text and HTML with the same words: the
//! product's name, the link (if any), how long it works, and what to do if the reader did not
//! ask for it.

use asm_contract::Mail;
use std::time::Duration;

/// "30 minutes", "24 hours", "1 hour": how long a link works, in words.
pub fn lifetime(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs.is_multiple_of(86_400) && secs >= 2 * 86_400 {
        (secs / 86_400, "day")
    } else if secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Text made safe to place in HTML, in element content or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One message: a greeting line, what it is about, an action link (when there is one), and the
/// closing "if this wasn't you" paragraph.
struct Letter<'a> {
    service: &'a str,
    subject: String,
    lines: Vec<String>,
    action: Option<(&'a str, &'a str)>,
    after: Vec<String>,
}

impl Letter<'_> {
    fn to(self, recipient: &str) -> Mail {
        let mut text = String::new();
        let mut html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body style=\"font-family: sans-serif; line-height: 1.5; max-width: 36em\">",
            escape_html(&self.subject)
        );
        for line in &self.lines {
            text.push_str(line);
            text.push_str("\n\n");
            html.push_str(&format!("<p>{}</p>", escape_html(line)));
        }
        if let Some((label, link)) = self.action {
            text.push_str(&format!("{label}:\n{link}\n\n"));
            html.push_str(&format!(
                "<p><a href=\"{href}\" style=\"font-weight: bold\">{label}</a></p>\
                 <p style=\"font-size: smaller\">Or copy this address into your browser:<br>{href}</p>",
                href = escape_html(link),
                label = escape_html(label)
            ));
        }
        for line in &self.after {
            text.push_str(line);
            text.push_str("\n\n");
            html.push_str(&format!("<p>{}</p>", escape_html(line)));
        }
        text.push_str(&format!("-- \n{}\n", self.service));
        html.push_str(&format!("<p style=\"color: #666\">{}</p></body></html>", escape_html(self.service)));
        Mail { to: recipient.to_string(), subject: self.subject, text, html }
    }
}

/// The password-reset link.
pub fn password_reset(service: &str, to: &str, link: &str, valid_for: Duration) -> Mail {
    Letter {
        service,
        subject: format!("Reset your {service} password"),
        lines: vec![
            "Someone, hopefully you, asked to reset the password of your account.".into(),
            format!("The link below works once, for {}. Every session of the account ends when the new password is set.", lifetime(valid_for)),
        ],
        action: Some(("Choose a new password", link)),
        after: vec![
            "If this wasn't you, you can ignore this message: your password stays as it is. If it keeps happening, someone may know your email address and be trying your account.".into(),
        ],
    }
    .to(to)
}

/// The email-verification link.
pub fn verification(service: &str, to: &str, link: &str, valid_for: Duration) -> Mail {
    Letter {
        service,
        subject: format!("Confirm your email address for {service}"),
        lines: vec![
            format!("Please confirm that this address belongs to your {service} account."),
            format!("The link below works once, for {}.", lifetime(valid_for)),
        ],
        action: Some(("Confirm my email address", link)),
        after: vec![
            "If this wasn't you, someone gave your address when creating an account; you can ignore this message and the address stays unconfirmed.".into(),
        ],
    }
    .to(to)
}

/// The notice that the account's password changed, sent after a change or a reset so the owner
/// learns of one they did not make. It holds no link and no secret.
pub fn password_changed(service: &str, to: &str, by_reset: bool) -> Mail {
    let how = if by_reset { "with a password-reset link" } else { "from a signed-in session" };
    Letter {
        service,
        subject: format!("Your {service} password was changed"),
        lines: vec![
            format!("The password of your {service} account was just changed {how}."),
            "If this was you, there is nothing to do.".into(),
        ],
        action: None,
        after: vec![format!(
            "If this wasn't you, someone else knows your password or can read your mail: ask {service} for a password-reset link at once, then look at the account's active sessions and end the ones you do not know."
        )],
    }
    .to(to)
}

/// A change to the account's second factor, or a use of it the owner should hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorChange {
    TotpOn,
    TotpOff,
    NewRecoveryCodes,
    RecoveryCodeUsed,
}

/// The notice of a [`FactorChange`]: what happened and what to do if it was not the owner. Like
/// the password notice it holds no link and no secret.
pub fn second_factor_changed(service: &str, to: &str, change: FactorChange) -> Mail {
    let (subject, what) = match change {
        FactorChange::TotpOn => (
            format!("Two-step verification is on for your {service} account"),
            "Two-step verification was just turned on for your account: signing in now takes a code from an authenticator app, or a recovery code, after the password.",
        ),
        FactorChange::TotpOff => (
            format!("Two-step verification was turned off for your {service} account"),
            "Two-step verification was just turned off for your account: signing in now takes the password alone, and the recovery codes no longer work.",
        ),
        FactorChange::NewRecoveryCodes => (
            format!("New recovery codes for your {service} account"),
            "A new set of recovery codes was just made for your account. The earlier codes no longer work.",
        ),
        FactorChange::RecoveryCodeUsed => (
            format!("A recovery code was used to sign in to {service}"),
            "Someone just signed in to your account with one of its recovery codes instead of a code from the authenticator app. That code no longer works; when few are left, make a new set on the account page.",
        ),
    };
    let unknown = match change {
        // Whoever turned it on holds the authenticator and the codes: a reset link alone does
        // not get past them, so the owner needs the people who run the service.
        FactorChange::TotpOn => format!(
            "If this wasn't you, someone else has signed in to your account and knows your password. Ask {service} for a password-reset link at once, end the sessions you do not know, and contact the people who run {service}: a new password alone does not turn two-step verification off."
        ),
        _ => format!(
            "If this wasn't you, someone else knows your password and has signed in: ask {service} for a password-reset link at once, then look at the account's active sessions and end the ones you do not know."
        ),
    };
    Letter {
        service,
        subject,
        lines: vec![what.into(), "If this was you, there is nothing to do.".into()],
        action: None,
        after: vec![unknown],
    }
    .to(to)
}

/// The link that confirms a change of the account's email, sent to the new address.
pub fn email_change(service: &str, to: &str, link: &str, valid_for: Duration) -> Mail {
    Letter {
        service,
        subject: format!("Confirm your new email address for {service}"),
        lines: vec![
            format!("Someone, hopefully you, asked to make this the email address of a {service} account."),
            format!("Nothing changes until the link below is used. It works once, for {}.", lifetime(valid_for)),
        ],
        action: Some(("Use this email address", link)),
        after: vec!["If this wasn't you, you can ignore this message; no account will use this address.".into()],
    }
    .to(to)
}

/// The notice to the old address that a change of the account's email was asked for: no link.
pub fn email_change_asked(service: &str, to: &str, new_email: &str) -> Mail {
    Letter {
        service,
        subject: format!("A change of your {service} email address was asked for"),
        lines: vec![
            format!("Someone signed in to your {service} account asked to change its email address to {new_email}."),
            "Nothing changes until a link mailed to that address is used. If this was you, there is nothing to do here.".into(),
        ],
        action: None,
        after: vec![format!(
            "If this wasn't you, someone else knows your password: change it at once, end the sessions you do not know, and contact the people who run {service}."
        )],
    }
    .to(to)
}

/// The notice to the old address once the change is made.
pub fn email_changed(service: &str, to: &str, new_email: &str) -> Mail {
    Letter {
        service,
        subject: format!("Your {service} email address was changed"),
        lines: vec![
            format!("The email address of your {service} account is now {new_email}. Mail about the account goes there from now on."),
            "If this was you, there is nothing to do.".into(),
        ],
        action: None,
        after: vec![format!("If this wasn't you, contact the people who run {service} at once.")],
    }
    .to(to)
}

/// The last message to an account's address: it was deleted.
pub fn account_deleted(service: &str, to: &str, by_operator: bool) -> Mail {
    let who = if by_operator { "by the people who run it" } else { "from a signed-in session, with its password" };
    Letter {
        service,
        subject: format!("Your {service} account was deleted"),
        lines: vec![
            format!("Your {service} account was deleted {who}. Everything it kept about you is gone, and this address will not hear from {service} again about that account."),
            "You can register again with this address at any time.".into(),
        ],
        action: None,
        after: vec![format!("If this wasn't you, contact the people who run {service}.")],
    }
    .to(to)
}

/// The link an account an operator made without a password gets, to choose one.
pub fn account_created(service: &str, to: &str, link: &str, valid_for: Duration) -> Mail {
    Letter {
        service,
        subject: format!("Your {service} account: choose a password"),
        lines: vec![
            format!("An account was made for you at {service} with this email address."),
            format!("Choose its password with the link below. It works once, for {}.", lifetime(valid_for)),
        ],
        action: Some(("Choose a password", link)),
        after: vec![format!("If you did not expect this, you can ignore this message, or ask the people who run {service} to remove the account.")],
    }
    .to(to)
}

/// The notice that an operator removed the account's second factors.
pub fn second_factor_reset(service: &str, to: &str) -> Mail {
    Letter {
        service,
        subject: format!("Two-step verification was reset for your {service} account"),
        lines: vec![
            format!("The people who run {service} removed the second factors of your account: signing in now takes the password alone, and the recovery codes no longer work."),
            "Turn two-step verification on again on the account page.".into(),
        ],
        action: None,
        after: vec![format!("If you did not ask for this, contact the people who run {service} at once.")],
    }
    .to(to)
}

/// What a disabled account's address gets when someone asks to reset its password: no link (it
/// would be refused), and whom to ask.
pub fn reset_while_disabled(service: &str, to: &str) -> Mail {
    Letter {
        service,
        subject: format!("Password reset request for {service}"),
        lines: vec![
            format!("Someone asked to reset the password of your {service} account, but the account is disabled, so this message has no link."),
            format!("To use the account again, contact the people who run {service}."),
        ],
        action: None,
        after: vec!["If this wasn't you, you can ignore this message; nothing has changed.".into()],
    }
    .to(to)
}

/// What an address without an account gets when someone asks to reset its password: it tells
/// the owner, and makes the request cost the same as for an address with an account.
pub fn no_account(service: &str, to: &str) -> Mail {
    Letter {
        service,
        subject: format!("Password reset request for {service}"),
        lines: vec![
            format!("Someone asked to reset the {service} password for this email address, but no account uses it."),
            "If it was you, you may have signed up with another address: try that one.".into(),
        ],
        action: None,
        after: vec!["If this wasn't you, you can ignore this message; nothing has changed.".into()],
    }
    .to(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(Duration::from_secs(30 * 60)), "30 minutes");
        assert_eq!(lifetime(Duration::from_secs(3600)), "1 hour");
        assert_eq!(lifetime(Duration::from_secs(24 * 3600)), "24 hours");
        assert_eq!(lifetime(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(lifetime(Duration::from_secs(90)), "90 seconds");
    }

    #[test]
    fn a_reset_mail_has_the_link_lifetime_name_and_warning_in_both_forms() {
        let link = "https://auth.example.com/account/reset?token=abc&x=<y>";
        let m = password_reset("Acme ID", "ada@example.com", link, Duration::from_secs(1800));
        assert_eq!(m.to, "ada@example.com");
        assert_eq!(m.subject, "Reset your Acme ID password");
        for body in [&m.text, &m.html] {
            assert!(body.contains("30 minutes"), "{body}");
            assert!(body.contains("Acme ID"), "{body}");
            assert!(body.contains("If this wasn't you") || body.contains("If this wasn&#39;t you"), "{body}");
        }
        assert!(m.text.contains(link));
        assert!(m.html.contains("href=\"https://auth.example.com/account/reset?token=abc&amp;x=&lt;y&gt;\""));
        assert!(!m.html.contains("<y>"), "the link is escaped in HTML");
    }

    #[test]
    fn names_are_escaped_in_html() {
        let m = verification(
            "<b>Evil</b>",
            "a@b.co",
            "https://x.example/account/verify?token=t",
            Duration::from_secs(3600),
        );
        assert!(m.html.contains("&lt;b&gt;Evil&lt;/b&gt;"));
        assert!(!m.html.contains("<b>Evil"));
        assert!(m.text.contains("1 hour"));
        let c = password_changed("Acme ID", "a@b.co", true);
        assert!(c.text.contains("password-reset link") && c.text.contains("If this wasn't you"), "{}", c.text);
        assert!(!c.text.contains("token="), "a notice carries no secret");
        for change in [
            FactorChange::TotpOn,
            FactorChange::TotpOff,
            FactorChange::NewRecoveryCodes,
            FactorChange::RecoveryCodeUsed,
        ] {
            let m = second_factor_changed("<Acme>", "a@b.co", change);
            assert!(m.subject.contains("<Acme>") && m.html.contains("&lt;Acme&gt;") && !m.html.contains("<Acme>"));
            assert!(m.text.contains("If this wasn't you") && !m.text.contains("token="), "{}", m.text);
        }
        let n = no_account("asm", "nobody@example.com");
        assert!(n.text.contains("no account uses it") && !n.text.contains("token="));
    }
}
