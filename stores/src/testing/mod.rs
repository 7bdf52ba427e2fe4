//! Fixtures for the tests of the crates that use these stores (feature `testing`).

pub mod mmdb;
