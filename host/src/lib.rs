//! The native host of the asm auth component.
//!
//! - [`config`]: every setting, as a flag and an environment variable;
//! - [`runtime`]: wasmtime: the engine, the cached compiled component, one instance per
//!   request under a memory cap and an epoch deadline, and the imports wired to the stores;
//! - [`stores`]: the backends (PostgreSQL, Redis, SQLite, MaxMind) chosen from the configuration;
//! - [`server`]: hyper, the client-address header, per-request logs, graceful shutdown;
//! - [`migrate`]: the schema in `migrations/`;
//! - [`admin`]: `asm admin`, the operators' command line over the admin API.

pub mod admin;
pub mod config;
pub mod mail;
pub mod metrics;
pub mod migrate;
pub mod outbox;
pub mod runtime;
pub mod server;
pub mod stores;
pub mod telemetry;
pub mod webhooks;
