//! End-to-end tests: the real component in the real host, over HTTP, against PostgreSQL and
//! Redis. `make test` builds the component and checks the services first.

mod admin;
mod conformance;
mod credentials;
mod embedded;
mod events;
mod faults;
mod geo;
mod hardening;
mod isolation;
mod login;
mod mail;
mod mfa;
mod probe;
mod receiver;
mod register;
mod routing;
mod scale;
mod security;
mod sessions;
mod smtp;
mod spin;
mod support;
mod tooling;
