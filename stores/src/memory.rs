//! The in-memory store: the reference implementation of the contract. Every operation runs
//! under one lock, so each is atomic; data lives as long as the value. It passes the same
//! conformance suite as PostgreSQL, Redis and SQLite (`host/tests/api/conformance.rs`), and
//! serves the component's unit tests, the router fuzz target and the benchmark's logic-only
//! runs. Time comes from a clock the caller may set, so expiry is testable without sleeping.

use asm_contract::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Unix milliseconds, from wherever the store's owner says.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_millis() as i64
    })
}

pub struct MemoryStore {
    data: Mutex<Data>,
    clock: Clock,
    unavailable: AtomicBool,
}

#[derive(Default)]
struct Data {
    users: Vec<User>,
    history: Vec<LoginAttempt>,
    next_attempt_id: u64,
    /// By token hash, with the time the session is kept until (idle timeout).
    sessions: HashMap<String, (Session, i64)>,
    /// By user id: sessions for lower credential versions are refused.
    credential_versions: HashMap<String, u64>,
    /// By user id: what session checks show of the account (kept while the user has sessions
    /// to check, as a store beside the user store would).
    profiles: HashMap<String, UserProfile>,
    counters: HashMap<String, Counter>,
    /// Mailed tokens by hash: purpose, user id, expiry.
    tokens: HashMap<String, (TokenPurpose, String, i64)>,
    /// Pending email changes, by token hash: the new email.
    email_changes: HashMap<String, String>,
    /// Mail handed to `send`, oldest first (nothing delivers it).
    outbox: Vec<Mail>,
    /// By user id: the last accepted TOTP step.
    totp_steps: HashMap<String, u64>,
    /// By user id: the hashes of the unused recovery codes.
    recovery_codes: HashMap<String, Vec<String>>,
    /// Every event appended, oldest first; ids count up from 1.
    events: Vec<Event>,
}

/// A login-attempt counter.
#[derive(Default)]
struct Counter {
    failures: u32,
    in_flight: u32,
    /// When the window of failures ends (0: none open).
    window_end: i64,
    /// Attempts refused by the lock in this window.
    refused: u32,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_clock(system_clock())
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    pub fn with_clock(clock: Clock) -> Self {
        MemoryStore { data: Mutex::default(), clock, unavailable: AtomicBool::new(false) }
    }

    /// Makes every operation fail as `Unavailable` (a store that went away) or work again.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// Every stored session, live or not, for tests that look inside.
    pub fn stored_sessions(&self) -> Vec<Session> {
        self.lock().map(|d| d.sessions.values().map(|(s, _)| s.clone()).collect()).unwrap_or_default()
    }

    /// Forgets every kept profile, as a store that lost them (evicted, or written before
    /// profiles were kept) would.
    pub fn forget_profiles(&self) {
        if let Ok(mut d) = self.lock() {
            d.profiles.clear();
        }
    }

    /// The mail handed to the mailer so far, oldest first.
    pub fn sent_mail(&self) -> Vec<Mail> {
        self.lock().map(|d| d.outbox.clone()).unwrap_or_default()
    }

    /// Every event appended and not withdrawn, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.lock().map(|d| d.events.clone()).unwrap_or_default()
    }

    /// Applies `f` to the stored user with this email, for tests that set up odd states.
    pub fn edit_user(&self, email: &str, f: impl FnOnce(&mut User)) {
        if let Ok(mut d) = self.lock()
            && let Some(u) = d.users.iter_mut().find(|u| u.email.eq_ignore_ascii_case(email))
        {
            f(u);
        }
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Data>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store: set unavailable".into()));
        }
        Ok(self.data.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

impl Data {
    fn live(&self, now: i64) -> impl Iterator<Item = &Session> {
        self.sessions.values().filter(move |(s, keep)| s.expires_at > now && *keep > now).map(|(s, _)| s)
    }
}

#[async_trait::async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let now = self.now();
        let mut d = self.lock()?;
        if d.users.iter().any(|x| x.email.eq_ignore_ascii_case(&u.email)) {
            return Err(StoreError::Conflict("email".into()));
        }
        if d.users.iter().any(|x| x.username.to_lowercase() == u.username.to_lowercase()) {
            return Err(StoreError::Conflict("username".into()));
        }
        let user = u.into_user(uuid::Uuid::new_v4().to_string(), now);
        d.users.push(user.clone());
        Ok(user)
    }

    async fn find_user_by_email(&self, email: String) -> StoreResult<Option<User>> {
        Ok(self.lock()?.users.iter().find(|u| u.email.to_lowercase() == email.to_lowercase()).cloned())
    }

    async fn find_user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.lock()?.users.iter().find(|u| u.id == id.as_str()).cloned())
    }

    async fn record_login(&self, user_id: UserId, at: i64) -> StoreResult<u64> {
        let mut d = self.lock()?;
        let Some(u) = d.users.iter_mut().find(|u| u.id == user_id.as_str()) else { return Ok(0) };
        u.last_login = Some(at);
        u.devices_issued += 1;
        Ok(u.devices_issued)
    }

    async fn update_password(&self, user_id: UserId, password_hash: String) -> StoreResult<u64> {
        let mut d = self.lock()?;
        let Some(u) = d.users.iter_mut().find(|u| u.id == user_id.as_str()) else { return Ok(0) };
        u.password_hash = password_hash;
        u.credential_version += 1;
        let version = u.credential_version;
        // Reset links, and second login steps earned with the old password, end with it.
        let earned_before = |p: &TokenPurpose| matches!(p, TokenPurpose::PasswordReset | TokenPurpose::MfaLogin);
        d.tokens.retain(|_, (purpose, user, _)| !(earned_before(purpose) && user == user_id.as_str()));
        Ok(version)
    }

    async fn rehash_password(&self, user_id: UserId, current_hash: String, new_hash: String) -> StoreResult<bool> {
        let mut d = self.lock()?;
        match d.users.iter_mut().find(|u| u.id == user_id.as_str() && u.password_hash == current_hash) {
            Some(u) => {
                u.password_hash = new_hash;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn record_login_attempt(&self, a: AttemptRecord, retention: Retention) -> StoreResult<()> {
        let mut d = self.lock()?;
        // As in the SQL stores: history is kept for existing accounts only.
        let Some(user_id) = d.users.iter().find(|u| u.email.eq_ignore_ascii_case(&a.email)).map(|u| u.id.clone())
        else {
            return Ok(());
        };
        d.next_attempt_id += 1;
        let attempt = LoginAttempt {
            id: d.next_attempt_id.to_string(),
            user_id: user_id.clone(),
            outcome: a.outcome,
            ip_address: a.ip_address,
            user_agent: a.user_agent,
            device_info: a.device_info,
            location: a.location,
            at: a.at,
        };
        // Retention: nothing older than the age before this attempt, nothing beyond the count.
        let oldest = attempt.at.saturating_sub(retention.max_age_ms.min(i64::MAX as u64) as i64);
        d.history.push(attempt);
        let mut mine: Vec<(i64, u64)> =
            d.history.iter().filter(|h| h.user_id == user_id).map(|h| (h.at, id_number(h))).collect();
        mine.sort_by(|a, b| b.cmp(a));
        let keep: Vec<u64> = mine
            .into_iter()
            .filter(|(at, _)| *at >= oldest)
            .take(retention.max_count as usize)
            .map(|(_, id)| id)
            .collect();
        d.history.retain(|h| h.user_id != user_id || keep.contains(&id_number(h)));
        Ok(())
    }

    async fn list_login_attempts(&self, user_id: UserId, offset: u32, limit: u32) -> StoreResult<LoginPage> {
        let d = self.lock()?;
        let mut mine: Vec<&LoginAttempt> = d.history.iter().filter(|a| a.user_id == user_id.as_str()).collect();
        // Newest first; the later of two at the same millisecond first, as the SQL stores order.
        mine.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| id_number(b).cmp(&id_number(a))));
        let total = mine.len() as u64;
        let attempts = mine.into_iter().skip(offset as usize).take(limit as usize).cloned().collect();
        Ok(LoginPage { attempts, total })
    }

    async fn issue_token(
        &self,
        email: String,
        purpose: TokenPurpose,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<Option<User>> {
        let mut d = self.lock()?;
        let Some(user) = d.users.iter().find(|u| u.email.eq_ignore_ascii_case(&email)).cloned() else {
            return Ok(None);
        };
        d.tokens.retain(|_, (p, owner, _)| !(*p == purpose && *owner == user.id));
        d.tokens.insert(token_hash, (purpose, user.id.clone(), expires_at));
        Ok(Some(user))
    }

    async fn redeem_token(
        &self,
        purpose: TokenPurpose,
        token_hash: String,
        now: i64,
        consume: bool,
    ) -> StoreResult<Option<User>> {
        let mut d = self.lock()?;
        let Some((p, owner, expires_at)) = d.tokens.get(&token_hash).cloned() else { return Ok(None) };
        if p != purpose || expires_at <= now {
            return Ok(None);
        }
        if consume {
            d.tokens.remove(&token_hash);
        }
        Ok(d.users.iter().find(|u| u.id == owner).cloned())
    }

    async fn mark_email_verified(&self, user_id: UserId) -> StoreResult<()> {
        let mut d = self.lock()?;
        d.users.iter_mut().filter(|u| u.id == user_id.as_str()).for_each(|u| u.email_verified = true);
        d.tokens.retain(|_, (p, owner, _)| !(*p == TokenPurpose::EmailVerification && owner == user_id.as_str()));
        Ok(())
    }

    async fn begin_totp(&self, user_id: UserId, sealed_secret: Bytes) -> StoreResult<bool> {
        let mut d = self.lock()?;
        let Some(u) = d.users.iter_mut().find(|u| u.id == user_id.as_str() && !u.totp_enabled) else {
            return Ok(false);
        };
        u.totp_secret = Some(sealed_secret);
        d.totp_steps.remove(user_id.as_str());
        Ok(true)
    }

    async fn enable_totp(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let mut d = self.lock()?;
        let Some(u) =
            d.users.iter_mut().find(|u| u.id == user_id.as_str() && !u.totp_enabled && u.totp_secret.is_some())
        else {
            return Ok(false);
        };
        u.totp_enabled = true;
        d.recovery_codes.insert(user_id.into_string(), recovery_code_hashes);
        Ok(true)
    }

    async fn disable_totp(&self, user_id: UserId) -> StoreResult<()> {
        let mut d = self.lock()?;
        for u in d.users.iter_mut().filter(|u| u.id == user_id.as_str()) {
            u.totp_secret = None;
            u.totp_enabled = false;
        }
        d.totp_steps.remove(user_id.as_str());
        d.recovery_codes.remove(user_id.as_str());
        Ok(())
    }

    async fn replace_recovery_codes(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let mut d = self.lock()?;
        if !d.users.iter().any(|u| u.id == user_id.as_str() && u.totp_enabled) {
            return Ok(false);
        }
        d.recovery_codes.insert(user_id.into_string(), recovery_code_hashes);
        Ok(true)
    }

    async fn accept_totp_step(&self, user_id: UserId, step: u64) -> StoreResult<bool> {
        let mut d = self.lock()?;
        if !d.users.iter().any(|u| u.id == user_id.as_str() && u.totp_secret.is_some()) {
            return Ok(false);
        }
        let last = d.totp_steps.entry(user_id.into_string()).or_insert(0);
        if step > *last {
            *last = step;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn use_recovery_code(&self, user_id: UserId, code_hash: String) -> StoreResult<bool> {
        let mut d = self.lock()?;
        let Some(codes) = d.recovery_codes.get_mut(user_id.as_str()) else { return Ok(false) };
        let before = codes.len();
        codes.retain(|c| *c != code_hash);
        Ok(codes.len() < before)
    }

    async fn search_users(&self, query: String, limit: u32, after: Cursor) -> StoreResult<UserPage> {
        let limit = limit.max(1);
        let d = self.lock()?;
        let query = query.to_lowercase();
        let cursor = |u: &User| format!("{:020}:{}", u.created_at, u.id);
        let mut found: Vec<&User> = d
            .users
            .iter()
            .filter(|u| u.email.to_lowercase().starts_with(&query) || u.username.to_lowercase().starts_with(&query))
            .filter(|u| after.as_deref().is_none_or(|after| cursor(u).as_str() > after))
            .collect();
        found.sort_by_key(|u| cursor(u));
        let next = (found.len() > limit as usize).then(|| cursor(found[limit as usize - 1]));
        Ok(UserPage { users: found.into_iter().take(limit as usize).cloned().collect(), next })
    }

    async fn update_user(&self, user_id: UserId, changes: UserChanges) -> StoreResult<Option<User>> {
        let mut d = self.lock()?;
        let others = |d: &Data, f: &dyn Fn(&User) -> bool| d.users.iter().any(|u| u.id != user_id.as_str() && f(u));
        if let Some(email) = &changes.email
            && others(&d, &|u| u.email.eq_ignore_ascii_case(email))
        {
            return Err(StoreError::Conflict("email".into()));
        }
        if let Some(username) = &changes.username
            && others(&d, &|u| u.username.to_lowercase() == username.to_lowercase())
        {
            return Err(StoreError::Conflict("username".into()));
        }
        let Some(u) = d.users.iter_mut().find(|u| u.id == user_id.as_str()) else { return Ok(None) };
        if let Some(email) = changes.email {
            if !email.eq_ignore_ascii_case(&u.email) {
                u.email_verified = false;
            }
            u.email = email;
        }
        if let Some(username) = changes.username {
            u.username = username;
        }
        if let Some(full_name) = changes.full_name {
            u.full_name = full_name;
        }
        if let Some(verified) = changes.email_verified {
            u.email_verified = verified;
        }
        Ok(Some(u.clone()))
    }

    async fn set_disabled(&self, user_id: UserId, disabled: bool) -> StoreResult<Option<u64>> {
        let mut d = self.lock()?;
        let Some(u) = d.users.iter_mut().find(|u| u.id == user_id.as_str()) else { return Ok(None) };
        u.disabled = disabled;
        u.credential_version += 1;
        let version = u.credential_version;
        if disabled {
            let voided: Vec<String> = d
                .tokens
                .iter()
                .filter(|(_, (_, owner, _))| owner == user_id.as_str())
                .map(|(h, _)| h.clone())
                .collect();
            for h in voided {
                d.tokens.remove(&h);
                d.email_changes.remove(&h);
            }
        }
        Ok(Some(version))
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<bool> {
        let mut d = self.lock()?;
        let Some(at) = d.users.iter().position(|u| u.id == user_id.as_str()) else { return Ok(false) };
        let user = d.users.remove(at);
        d.history.retain(|h| h.user_id != user.id);
        let gone: Vec<String> =
            d.tokens.iter().filter(|(_, (_, owner, _))| *owner == user.id).map(|(h, _)| h.clone()).collect();
        for h in gone {
            d.tokens.remove(&h);
            d.email_changes.remove(&h);
        }
        d.totp_steps.remove(&user.id);
        d.recovery_codes.remove(&user.id);
        d.outbox.retain(|m| !m.to.eq_ignore_ascii_case(&user.email));
        // The account's events keep their id, type and time, nothing that names the person.
        for e in d.events.iter_mut().filter(|e| e.user_id.as_deref() == Some(user.id.as_str())) {
            e.ip_address.clear();
            e.data = "{}".into();
        }
        Ok(true)
    }

    async fn begin_email_change(
        &self,
        user_id: UserId,
        new_email: String,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let mut d = self.lock()?;
        if !d.users.iter().any(|u| u.id == user_id.as_str()) {
            return Ok(false);
        }
        let older: Vec<String> = d
            .tokens
            .iter()
            .filter(|(_, (p, owner, _))| *p == TokenPurpose::EmailChange && owner == user_id.as_str())
            .map(|(h, _)| h.clone())
            .collect();
        for h in older {
            d.tokens.remove(&h);
            d.email_changes.remove(&h);
        }
        d.tokens.insert(token_hash.clone(), (TokenPurpose::EmailChange, user_id.into_string(), expires_at));
        d.email_changes.insert(token_hash, new_email);
        Ok(true)
    }

    async fn confirm_email_change(
        &self,
        token_hash: String,
        now: i64,
        apply: bool,
    ) -> StoreResult<Option<EmailChanged>> {
        let mut d = self.lock()?;
        let Some((purpose, owner, expires_at)) = d.tokens.get(&token_hash).cloned() else { return Ok(None) };
        let Some(new_email) = d.email_changes.get(&token_hash).cloned() else { return Ok(None) };
        if purpose != TokenPurpose::EmailChange || expires_at <= now {
            return Ok(None);
        }
        if d.users.iter().any(|u| u.id != owner && u.email.eq_ignore_ascii_case(&new_email)) {
            return Err(StoreError::Conflict("email".into()));
        }
        if !apply {
            let Some(u) = d.users.iter().find(|u| u.id == owner) else { return Ok(None) };
            let user = User { email: new_email, email_verified: true, ..u.clone() };
            return Ok(Some(EmailChanged { user, previous_email: u.email.clone() }));
        }
        d.tokens.remove(&token_hash);
        d.email_changes.remove(&token_hash);
        let Some(u) = d.users.iter_mut().find(|u| u.id == owner) else { return Ok(None) };
        let previous_email = std::mem::replace(&mut u.email, new_email);
        u.email_verified = true;
        Ok(Some(EmailChanged { user: u.clone(), previous_email }))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(drop)
    }
}

#[async_trait::async_trait]
impl Mailer for MemoryStore {
    async fn send(&self, message: Mail) -> StoreResult<()> {
        self.lock()?.outbox.push(message);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Events for MemoryStore {
    async fn append(&self, event: NewEvent) -> StoreResult<i64> {
        let mut d = self.lock()?;
        let id = d.events.last().map_or(1, |e| e.id + 1);
        let NewEvent { event_type, user_id, at, ip_address, data } = event;
        d.events.push(Event { id, event_type, user_id, at, ip_address, data });
        Ok(id)
    }

    async fn withdraw(&self, id: i64) -> StoreResult<()> {
        self.lock()?.events.retain(|e| e.id != id);
        Ok(())
    }

    async fn list_events(&self, filter: EventFilter, limit: u32, after: Cursor) -> StoreResult<EventPage> {
        let before = after.as_deref().and_then(|c| c.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let d = self.lock()?;
        let mut events: Vec<Event> = d
            .events
            .iter()
            .rev()
            .filter(|e| e.id < before)
            .filter(|e| filter.user_id.as_ref().is_none_or(|u| e.user_id.as_ref() == Some(u)))
            .filter(|e| filter.event_type.is_none_or(|t| e.event_type == t))
            .take(limit.max(1) as usize + 1)
            .cloned()
            .collect();
        let limit = limit.max(1) as usize;
        let next = (events.len() > limit).then(|| events[limit - 1].id.to_string());
        events.truncate(limit);
        Ok(EventPage { events, next })
    }
}

fn id_number(a: &LoginAttempt) -> u64 {
    a.id.parse().unwrap_or(0)
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(
        &self,
        session: Session,
        profile: UserProfile,
        max_sessions: u32,
        credential_version: u64,
    ) -> StoreResult<SessionCreated> {
        let now = self.now();
        let mut d = self.lock()?;
        if d.credential_versions.get(&session.user_id).is_some_and(|v| *v > credential_version) {
            return Ok(SessionCreated::Stale);
        }
        if session.expires_at <= now {
            return Ok(SessionCreated::Created(Vec::new()));
        }
        let (user, hash) = (session.user_id.clone(), session.token_hash.clone());
        let keep = session.expires_at;
        d.sessions.insert(hash.clone(), (session, keep));
        let newest_login = d.profiles.get(&profile.id).and_then(|p| p.last_login).max(profile.last_login);
        d.profiles.insert(profile.id.clone(), UserProfile { last_login: newest_login, ..profile });
        let mut evicted = Vec::new();
        if max_sessions > 0 {
            let mut others: Vec<(i64, String, String)> = d
                .live(now)
                .filter(|s| s.user_id == user && s.token_hash != hash)
                .map(|s| (s.last_activity, s.token_hash.clone(), s.id.clone()))
                .collect();
            others.sort();
            let excess = (others.len() + 1).saturating_sub(max_sessions as usize);
            for (_, h, id) in others.into_iter().take(excess) {
                d.sessions.remove(&h);
                evicted.push(id);
            }
        }
        Ok(SessionCreated::Created(evicted))
    }

    async fn get_session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionLookup>> {
        let now = self.now();
        let d = self.lock()?;
        Ok(d.sessions
            .get(token_hash.as_str())
            .filter(|(s, keep)| s.expires_at > now && *keep > now)
            .map(|(s, _)| SessionLookup { session: s.clone(), user: d.profiles.get(&s.user_id).cloned() }))
    }

    async fn put_user_profile(&self, user: UserProfile) -> StoreResult<()> {
        let now = self.now();
        let mut d = self.lock()?;
        if d.live(now).any(|s| s.user_id == user.id) {
            let newest_login = d.profiles.get(&user.id).and_then(|p| p.last_login).max(user.last_login);
            d.profiles.insert(user.id.clone(), UserProfile { last_login: newest_login, ..user });
        }
        Ok(())
    }

    async fn touch_session(&self, token_hash: TokenHash, at: i64, keep_until: i64) -> StoreResult<bool> {
        let now = self.now();
        let mut d = self.lock()?;
        let live = d.sessions.get(token_hash.as_str()).is_some_and(|(s, keep)| s.expires_at > now && *keep > now);
        if !live || keep_until <= now {
            d.sessions.remove(token_hash.as_str());
            return Ok(false);
        }
        let (s, keep) = d.sessions.get_mut(token_hash.as_str()).expect("checked above");
        s.last_activity = at;
        *keep = keep_until.min(s.expires_at);
        Ok(true)
    }

    async fn delete_session(&self, user_id: UserId, token_hash: TokenHash) -> StoreResult<bool> {
        let now = self.now();
        let mut d = self.lock()?;
        let mine = d
            .sessions
            .get(token_hash.as_str())
            .is_some_and(|(s, keep)| s.user_id == user_id.as_str() && s.expires_at > now && *keep > now);
        if mine {
            d.sessions.remove(token_hash.as_str());
        }
        Ok(mine)
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u32> {
        let now = self.now();
        let mut d = self.lock()?;
        let live = d.live(now).filter(|s| s.user_id == user_id.as_str()).count();
        d.sessions.retain(|_, (s, _)| s.user_id != user_id.as_str());
        Ok(live as u32)
    }

    async fn erase_user(&self, user_id: UserId) -> StoreResult<u32> {
        let now = self.now();
        let mut d = self.lock()?;
        let live = d.live(now).filter(|s| s.user_id == user_id.as_str()).count();
        d.sessions.retain(|_, (s, _)| s.user_id != user_id.as_str());
        d.profiles.remove(user_id.as_str());
        Ok(live as u32)
    }

    async fn delete_other_sessions(&self, user_id: UserId, keep_token_hash: TokenHash) -> StoreResult<u32> {
        let now = self.now();
        let mut d = self.lock()?;
        let doomed: Vec<String> = d
            .live(now)
            .filter(|s| s.user_id == user_id.as_str() && s.token_hash != keep_token_hash.as_str())
            .map(|s| s.token_hash.clone())
            .collect();
        for h in &doomed {
            d.sessions.remove(h);
        }
        d.sessions.retain(|_, (s, keep)| s.user_id != user_id.as_str() || (s.expires_at > now && *keep > now));
        Ok(doomed.len() as u32)
    }

    async fn list_sessions(&self, user_id: UserId) -> StoreResult<Vec<Session>> {
        let now = self.now();
        Ok(self.lock()?.live(now).filter(|s| s.user_id == user_id.as_str()).cloned().collect())
    }

    async fn set_credential_version(&self, user_id: UserId, version: u64) -> StoreResult<()> {
        let mut d = self.lock()?;
        let v = d.credential_versions.entry(user_id.into_string()).or_default();
        *v = (*v).max(version);
        Ok(())
    }

    async fn begin_attempt(&self, key: String, limit: u32, _window_ms: u64) -> StoreResult<AttemptGate> {
        let now = self.now();
        let mut d = self.lock()?;
        let c = d.counters.entry(key).or_default();
        let failures = if c.window_end > now { c.failures } else { 0 };
        if failures >= limit {
            c.refused += 1;
            return Ok(AttemptGate::Locked(Lock {
                retry_after_ms: (c.window_end - now) as u64,
                first: c.refused == 1,
            }));
        }
        if failures + c.in_flight >= limit {
            return Ok(AttemptGate::Busy);
        }
        c.in_flight += 1;
        Ok(AttemptGate::Admitted)
    }

    async fn end_attempt(&self, key: String, failed: bool, window_ms: u64) -> StoreResult<()> {
        let now = self.now();
        let mut d = self.lock()?;
        let c = d.counters.entry(key).or_default();
        c.in_flight = c.in_flight.saturating_sub(1);
        if failed {
            if c.window_end > now {
                c.failures += 1;
            } else {
                *c = Counter {
                    failures: 1,
                    in_flight: c.in_flight,
                    window_end: now + window_ms.max(1) as i64,
                    refused: 0,
                };
            }
        }
        Ok(())
    }

    async fn forget_attempts(&self, key: String) -> StoreResult<()> {
        self.lock()?.counters.remove(&key);
        Ok(())
    }

    async fn reset_attempts(&self, key: String) -> StoreResult<()> {
        if let Some(c) = self.lock()?.counters.get_mut(&key) {
            *c = Counter { in_flight: c.in_flight, ..Counter::default() };
        }
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(drop)
    }
}
