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
    /// Key → (count, window end).
    counters: HashMap<String, (u32, i64)>,
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

    async fn record_login(&self, user_id: UserId, at: i64) -> StoreResult<()> {
        self.lock()?.users.iter_mut().filter(|u| u.id == user_id.as_str()).for_each(|u| u.last_login = Some(at));
        Ok(())
    }

    async fn update_password(&self, user_id: UserId, password_hash: String) -> StoreResult<()> {
        for u in self.lock()?.users.iter_mut().filter(|u| u.id == user_id.as_str()) {
            u.password_hash = password_hash.clone();
        }
        Ok(())
    }

    async fn record_login_attempt(&self, attempt: LoginAttempt) -> StoreResult<()> {
        let mut d = self.lock()?;
        // As in the SQL stores: history is kept for existing accounts only.
        if d.users.iter().any(|u| u.id == attempt.user_id) {
            d.next_attempt_id += 1;
            let id = d.next_attempt_id.to_string();
            d.history.push(LoginAttempt { id, ..attempt });
        }
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

    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(drop)
    }
}

fn id_number(a: &LoginAttempt) -> u64 {
    a.id.parse().unwrap_or(0)
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: Session, max_sessions: u32) -> StoreResult<Vec<String>> {
        let now = self.now();
        let mut d = self.lock()?;
        if session.expires_at <= now {
            return Ok(Vec::new());
        }
        let (user, hash) = (session.user_id.clone(), session.token_hash.clone());
        let keep = session.expires_at;
        d.sessions.insert(hash.clone(), (session, keep));
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
        Ok(evicted)
    }

    async fn get_session(&self, token_hash: TokenHash) -> StoreResult<Option<Session>> {
        let now = self.now();
        let d = self.lock()?;
        Ok(d.sessions
            .get(token_hash.as_str())
            .filter(|(s, keep)| s.expires_at > now && *keep > now)
            .map(|(s, _)| s.clone()))
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

    async fn count_attempt(&self, key: String, window_ms: u64) -> StoreResult<Attempts> {
        let now = self.now();
        let mut d = self.lock()?;
        let entry = d.counters.entry(key).or_insert((0, 0));
        if entry.1 <= now {
            *entry = (0, now + window_ms.max(1) as i64);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(Attempts { count: entry.0, retry_after_ms: (entry.1 - now).max(0) as u64 })
    }

    async fn uncount_attempt(&self, key: String) -> StoreResult<()> {
        let now = self.now();
        if let Some((count, ends)) = self.lock()?.counters.get_mut(&key)
            && *ends > now
        {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }

    async fn reset_attempts(&self, key: String) -> StoreResult<()> {
        self.lock()?.counters.remove(&key);
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(drop)
    }
}
