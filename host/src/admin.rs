//! `asm admin`: the operators' command line. It calls the admin API of a running service (no
//! database access of its own, so it works the same against one host or many behind a balancer)
//! with `ASM_ADMIN_URL` and the first of `ADMIN_TOKEN`'s tokens, prints tables a person reads, or
//! with `--json` the API's `data` as it came, for scripts.
//!
//! An account is named by its id or its email; an email is looked up first (an exact match of
//! the search, so a prefix never picks someone else).

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::NOTHING};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Where the service's admin API is: its ADMIN_ADDR listener, or the public one when the
    /// operators' routes are served there.
    #[arg(long, env = "ASM_ADMIN_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The operators' token (of a comma-separated list, the first is used).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's `data` as JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The audit trail: events of every account, newest first.
    Events {
        /// Only this account's (by id or by email).
        #[arg(long)]
        user: Option<String>,
        /// Only events of this type (`user.created`, `login.failed`, …).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Most events to print (pages are fetched until there are this many).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Accounts whose email or username starts with QUERY (all of them without one), in the
    /// order they were created.
    List {
        query: Option<String>,
        /// Most accounts to print (pages are fetched until there are this many).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One account, with its live sessions.
    Show { account: String },
    /// Create an account. Without --password-stdin the person is mailed a link to choose one.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        full_name: String,
        /// Read the password from standard input (never from an argument, which others see).
        #[arg(long)]
        password_stdin: bool,
        /// Mark the email as verified.
        #[arg(long)]
        verified: bool,
    },
    /// No way in from now on; every session ends at once.
    Disable { account: String },
    /// Let the account in again.
    Enable { account: String },
    /// End every session of the account (after a stolen laptop).
    EndSessions { account: String },
    /// Remove the second factor and recovery codes (the owner is mailed a notice).
    ResetMfa { account: String },
    /// Erase the account and everything kept about it. Cannot be undone.
    Delete {
        account: String,
        /// Confirm the erasure (required).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs one command; what it prints goes to standard output, errors to the caller.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let token = args
        .token
        .as_deref()
        .and_then(|t| t.split(',').map(str::trim).find(|t| !t.is_empty()))
        .ok_or_else(|| anyhow!("ADMIN_TOKEN is not set: export the token the service was started with"))?
        .to_string();
    let api = Api { base: args.url.trim_end_matches('/').to_string(), token, http: client()? };
    let out = Output { json: args.json };
    let command = match args.command {
        AdminCommand::Users(command) => command,
        AdminCommand::Events { user, event_type, limit } => {
            let user = match user {
                Some(account) => Some(api.resolve(&account).await?),
                None => None,
            };
            return events(&api, &out, user, event_type, limit).await;
        }
    };
    match command {
        UsersCommand::List { query, limit } => {
            let users = api.search(query.as_deref().unwrap_or(""), limit).await?;
            if out.json {
                return out.print_json(&json!({ "users": users }));
            }
            let mut table = table(["id", "email", "username", "name", "verified", "2fa", "disabled", "created"]);
            for u in &users {
                table.add_row([
                    text(&u["id"]),
                    text(&u["email"]),
                    text(&u["username"]),
                    text(&u["full_name"]),
                    yes_no(&u["email_verified"]),
                    yes_no(&u["mfa_enabled"]),
                    yes_no(&u["disabled"]),
                    day(&u["created_at"]),
                ]);
            }
            print_table(&table);
            println!("{} account{}", users.len(), if users.len() == 1 { "" } else { "s" });
        }
        UsersCommand::Show { account } => {
            let id = api.resolve(&account).await?;
            let user = api.call(Method::GET, &format!("/admin/users/{id}"), None).await?;
            let sessions = api.call(Method::GET, &format!("/admin/users/{id}/sessions"), None).await?;
            if out.json {
                return out.print_json(&json!({ "user": user["user"], "sessions": sessions["sessions"] }));
            }
            let u = &user["user"];
            let mut fields = Table::new();
            fields.load_preset(NOTHING);
            for (name, value) in [
                ("id", text(&u["id"])),
                ("email", text(&u["email"])),
                ("username", text(&u["username"])),
                ("name", text(&u["full_name"])),
                ("email verified", yes_no(&u["email_verified"])),
                ("second factor", yes_no(&u["mfa_enabled"])),
                ("has a password", yes_no(&u["has_password"])),
                ("disabled", yes_no(&u["disabled"])),
                ("created", text(&u["created_at"])),
                ("last sign-in", text(&u["last_login"])),
                ("live sessions", text(&u["active_sessions"])),
            ] {
                fields.add_row([name.to_string(), value]);
            }
            print_table(&fields);
            let list = sessions["sessions"].as_array().cloned().unwrap_or_default();
            if !list.is_empty() {
                let mut table = table(["session", "device", "ip", "location", "last active"]);
                for s in &list {
                    table.add_row([
                        text(&s["id"]),
                        text(&s["device_info"]),
                        text(&s["ip_address"]),
                        text(&s["location"]),
                        text(&s["last_activity"]),
                    ]);
                }
                print_table(&table);
            }
        }
        UsersCommand::Create { email, username, full_name, password_stdin, verified } => {
            let mut body =
                json!({ "email": email, "username": username, "full_name": full_name, "email_verified": verified });
            if password_stdin {
                let mut password = String::new();
                std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
                body["password"] = json!(password.trim_end_matches(['\r', '\n']));
            }
            let data = api.call(Method::POST, "/admin/users", Some(body)).await?;
            out.done(&data, &format!("created {} ({})", text(&data["user"]["email"]), text(&data["user"]["id"])))?;
            if !password_stdin && !out.json {
                println!("a link to choose a password was mailed to {}", text(&data["user"]["email"]));
            }
        }
        UsersCommand::Disable { account } => {
            let id = api.resolve(&account).await?;
            let data = api.call(Method::POST, &format!("/admin/users/{id}/disable"), None).await?;
            out.done(&data, &format!("disabled {account}; {} session(s) ended", text(&data["revoked"])))?;
        }
        UsersCommand::Enable { account } => {
            let id = api.resolve(&account).await?;
            let data = api.call(Method::POST, &format!("/admin/users/{id}/enable"), None).await?;
            out.done(&data, &format!("enabled {account}"))?;
        }
        UsersCommand::EndSessions { account } => {
            let id = api.resolve(&account).await?;
            let data = api.call(Method::DELETE, &format!("/admin/users/{id}/sessions"), None).await?;
            out.done(&data, &format!("{} session(s) of {account} ended", text(&data["revoked"])))?;
        }
        UsersCommand::ResetMfa { account } => {
            let id = api.resolve(&account).await?;
            let data = api.call(Method::DELETE, &format!("/admin/users/{id}/mfa"), None).await?;
            out.done(&data, &format!("second factor of {account} removed"))?;
        }
        UsersCommand::Delete { account, yes } => {
            let id = api.resolve(&account).await?;
            if !yes {
                bail!(
                    "deleting {account} ({id}) erases the account and everything kept about it; run again with --yes"
                );
            }
            let data = api.call(Method::DELETE, &format!("/admin/users/{id}"), None).await?;
            out.done(&data, &format!("deleted {account} ({id})"))?;
        }
    }
    Ok(())
}

/// `asm admin events`: pages of `GET /admin/events` until `limit` events.
async fn events(
    api: &Api,
    out: &Output,
    user: Option<String>,
    event_type: Option<String>,
    limit: usize,
) -> anyhow::Result<()> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    while events.len() < limit {
        let mut path = format!("/admin/events?limit={}", (limit - events.len()).min(100));
        for (name, value) in [("user_id", &user), ("type", &event_type), ("cursor", &cursor)] {
            if let Some(v) = value {
                path.push_str(&format!("&{name}={}", encode(v)));
            }
        }
        let page = api.call(Method::GET, &path, None).await?;
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    events.truncate(limit);
    if out.json {
        return out.print_json(&json!({ "events": events }));
    }
    let mut table = table(["at", "type", "account", "ip", "data"]);
    for e in &events {
        let data = match &e["data"] {
            Value::Object(m) if m.is_empty() => String::new(),
            d => d.to_string(),
        };
        table.add_row([text(&e["at"]), text(&e["type"]), text(&e["user_id"]), text(&e["ip_address"]), data]);
    }
    print_table(&table);
    println!("{} event{}", events.len(), if events.len() == 1 { "" } else { "s" });
    Ok(())
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("asm-admin/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// One call; the envelope's `data` on success, its message and error otherwise.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}: is the service running there?"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("{method} {url}: reading the answer"))?;
        let envelope: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!("{method} {url}: {status}, not the service's JSON: {}", text.chars().take(200).collect::<String>())
        })?;
        if status.is_success() {
            return Ok(envelope["data"].clone());
        }
        let why = describe_error(&envelope["error"]);
        match status.as_u16() {
            401 => bail!("{status}: the token was refused (is ADMIN_TOKEN one the service was started with?)"),
            404 if path.starts_with("/admin/users") && envelope["error"] == "no such route" => {
                bail!(
                    "{status}: no admin API at {} (is ADMIN_TOKEN set for the service, and is this its ADMIN_ADDR?)",
                    self.base
                )
            }
            _ => bail!("{status}: {}{why}", envelope["message"].as_str().unwrap_or("failed")),
        }
    }

    /// Up to `limit` accounts matching `query`, following the cursor.
    async fn search(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Value>> {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        while users.len() < limit {
            let page = (limit - users.len()).min(100);
            let mut path = format!("/admin/users?limit={page}&q={}", encode(query));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", encode(c)));
            }
            let data = self.call(Method::GET, &path, None).await?;
            users.extend(data["users"].as_array().cloned().unwrap_or_default());
            match data["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        users.truncate(limit);
        Ok(users)
    }

    /// The id of the account named by id or email.
    async fn resolve(&self, account: &str) -> anyhow::Result<String> {
        if !account.contains('@') {
            return Ok(account.to_string());
        }
        let email = account.trim().to_lowercase();
        let found = self.search(&email, 100).await?;
        found
            .iter()
            .find(|u| u["email"].as_str() == Some(email.as_str()))
            .and_then(|u| u["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no account has the email {email}"))
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn print_json(&self, data: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(data)?);
        Ok(())
    }

    /// The data for scripts, or a sentence for people.
    fn done(&self, data: &Value, sentence: &str) -> anyhow::Result<()> {
        if self.json {
            self.print_json(data)
        } else {
            println!("{sentence}");
            Ok(())
        }
    }
}

/// The error part of an envelope as a sentence: a string, one field, or a list of fields.
fn describe_error(error: &Value) -> String {
    match error {
        Value::String(s) => format!(": {s}"),
        Value::Object(o) if o.contains_key("fields") => {
            let fields: Vec<String> = o["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} {}", text(&f["field"]), text(&f["message"])))
                .collect();
            format!(": {}", fields.join("; "))
        }
        Value::Object(o) if o.contains_key("field") => format!(": {} {}", text(&o["field"]), text(&o["message"])),
        _ => String::new(),
    }
}

/// A table without borders, as a person reads it in a terminal, without trailing blanks.
fn print_table(table: &Table) {
    for line in table.lines() {
        println!("{}", line.trim_end());
    }
}

fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(header);
    table
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn yes_no(v: &Value) -> String {
    if v.as_bool() == Some(true) { "yes" } else { "no" }.into()
}

/// The day of an RFC 3339 time.
fn day(v: &Value) -> String {
    v.as_str().map(|s| s.chars().take(10).collect()).unwrap_or_else(|| "-".into())
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(describe_error(&json!("user not found")), ": user not found");
        assert_eq!(describe_error(&json!({ "field": "username", "message": "is taken" })), ": username is taken");
        let many = json!({ "fields": [{ "field": "email", "message": "is invalid" }, { "field": "full_name", "message": "is required" }] });
        assert_eq!(describe_error(&many), ": email is invalid; full_name is required");
        assert_eq!(describe_error(&Value::Null), "");
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(encode("ada+x@example.com"), "ada%2Bx%40example.com");
        assert_eq!(encode("a b&c"), "a+b%26c");
    }
}
