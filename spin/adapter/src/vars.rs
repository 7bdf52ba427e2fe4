//! The names of the Spin variables the adapter reads (`spin_sdk::variables::get`). Spin resolves
//! them against the *auth* component's `[component.auth.variables]`, because the adapter is
//! composed into it with `dependencies_inherit_configuration = true`. The manifest check
//! (`spin/check`) verifies that spin.toml passes each one.

/// PostgreSQL connection string (`postgres://user:pw@host:5432/db` or `host=… dbname=…`).
pub const DB_URL: &str = "db_url";
/// Redis URL (`redis://:pw@host:6379/0`); empty keeps sessions in PostgreSQL.
pub const REDIS_URL: &str = "redis_url";
/// Prefix of every Redis key; the native host's `REDIS_KEY_PREFIX`.
pub const REDIS_KEY_PREFIX: &str = "redis_key_prefix";
/// Path, inside the component, of a MaxMind .mmdb mounted with `files`; empty for none.
pub const GEOIP_DB: &str = "geoip_db";
/// The key the component's MACs are made with (base64, at least 32 bytes): `ASM_SECRET_KEY`.
pub const SECRET_KEY: &str = "secret_key";
/// Keys used before, still accepted when verifying: `ASM_PREVIOUS_SECRET_KEYS`.
pub const PREVIOUS_SECRET_KEYS: &str = "previous_secret_keys";

/// `on`: each event's webhook delivery is queued with it, for a native host on the same database
/// with `WEBHOOK_URL` to deliver; `off` (the default): events are kept, nothing is queued.
pub const WEBHOOKS: &str = "webhooks";

pub const ALL: [&str; 7] = [DB_URL, REDIS_URL, REDIS_KEY_PREFIX, GEOIP_DB, SECRET_KEY, PREVIOUS_SECRET_KEYS, WEBHOOKS];

pub const DEFAULT_KEY_PREFIX: &str = "asm:";
