//! The statements and scripts behind the `user-store` and `session-store` contracts, in one
//! place, so the native host's stores and the Spin adapter run the same text and cannot drift.
//! Pure data: no driver is named here.

pub mod postgres;
pub mod redis;
