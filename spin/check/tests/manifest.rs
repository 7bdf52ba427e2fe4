//! spin.toml says what the components need: its files exist once built, every template names
//! a declared variable, and the auth component gets every setting and variable it reads.

use asm_spin_adapter::vars as adapter_vars;
use asm_spin_check::{Manifest, repo_root, template_names};
use std::collections::BTreeSet;

const AUTH: &str = "auth";

fn strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The environment variables the auth component reads (`asm_contract::http::SETTINGS`).
fn guest_vars() -> Vec<String> {
    asm_contract::http::SETTINGS.iter().map(|v| v.to_string()).collect()
}

#[test]
fn templates_are_read_as_spin_reads_them() {
    assert_eq!(template_names("postgres://{{ db_host }}"), ["db_host"]);
    assert_eq!(template_names("{{a}}-{{ b }}"), ["a", "b"]);
    assert!(template_names("plain").is_empty());
}

#[test]
fn every_path_names_a_built_file() {
    let m = Manifest::load().unwrap();
    assert_eq!(m.table["spin_manifest_version"].as_integer(), Some(2));
    let components = m.table["component"].as_table().unwrap();
    let mut paths = Vec::new();
    for id in components.keys() {
        paths.push(m.source(id).unwrap());
        paths.extend(m.dependencies(id).unwrap().into_iter().map(|(_, p)| p));
    }
    assert_eq!(paths.len(), 2, "{paths:?}");
    for p in paths {
        assert!(repo_root().join(&p).is_file(), "{p} does not exist: run `make spin-build` first");
    }
}

#[test]
fn every_template_names_a_declared_variable() {
    let m = Manifest::load().unwrap();
    let declared: BTreeSet<&str> = m.table["variables"].as_table().unwrap().keys().map(String::as_str).collect();
    let mut all = Vec::new();
    strings(&toml::Value::Table(m.table.clone()), &mut all);
    let used: BTreeSet<String> = all.iter().flat_map(|s| template_names(s)).collect();
    assert!(!used.is_empty());
    for name in &used {
        assert!(declared.contains(name.as_str()), "{{{{ {name} }}}} is used but [variables] does not declare it");
    }
    // Spin's rules for an application variable: required, or a default.
    for (name, var) in m.table["variables"].as_table().unwrap() {
        let required = var.get("required").and_then(|r| r.as_bool()).unwrap_or(false);
        assert!(required != var.get("default").is_some(), "{name}: either required or a default");
    }
}

#[test]
fn auth_gets_every_variable_and_setting_it_reads() {
    let m = Manifest::load().unwrap();
    let auth = m.component(AUTH).unwrap();

    // The adapter runs with auth's configuration: it must be inherited.
    assert_eq!(auth.get("dependencies_inherit_configuration").and_then(|v| v.as_bool()), Some(true));

    let vars = auth["variables"].as_table().unwrap();
    for name in adapter_vars::ALL {
        assert!(vars.contains_key(name), "[component.auth.variables] lacks {name}, which the adapter reads");
    }

    // Settings are environment variables, which Spin passes literally.
    let env = auth["environment"].as_table().unwrap();
    for name in guest_vars() {
        assert!(env.contains_key(&name), "[component.auth.environment] lacks {name}");
    }
    for (k, v) in env {
        let v = v.as_str().unwrap();
        assert!(template_names(v).is_empty(), "{k} = {v:?}: Spin does not expand templates in environment");
    }
    // Secure cookies follow APP_ENV, so `spin up -e APP_ENV=development` works over plain HTTP.
    assert_eq!(env["SESSION_COOKIE_SECURE"].as_str(), Some(""), "SESSION_COOKIE_SECURE pinned");
    // The operators' token is given at start-up, never written in the manifest.
    assert_eq!(env["ADMIN_TOKEN"].as_str(), Some(""), "ADMIN_TOKEN must not be committed");
    // Only the component's own settings: nothing a test component reads.
    let known: BTreeSet<String> = guest_vars().into_iter().collect();
    let extra: Vec<&String> = env.keys().filter(|k| !known.contains(*k)).collect();
    assert!(extra.is_empty(), "[component.auth.environment] sets what the component never reads: {extra:?}");

    // Both stores may be reached, and nothing else.
    let hosts: Vec<&str> =
        auth["allowed_outbound_hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(hosts, ["postgres://{{ db_host }}", "redis://{{ redis_host }}"]);
}

#[test]
fn routes_reach_the_auth_component() {
    let m = Manifest::load().unwrap();
    let triggers = m.table["trigger"]["http"].as_array().unwrap();
    let routes: Vec<&str> = triggers.iter().map(|t| t["route"].as_str().unwrap()).collect();
    assert_eq!(routes, ["/..."], "every path reaches the component, which answers 404 and 405 itself");
    for t in triggers {
        assert_eq!(t["component"].as_str(), Some(AUTH));
    }
    assert!(m.component(AUTH).is_ok());
}
