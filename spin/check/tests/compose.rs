//! The auth component and the Spin store adapter, composed as `spin up` composes them from
//! spin.toml, must leave only imports that Spin 3.6 provides, and must serve wasi:http.
//! Needs `make spin-build` first (`make spin-check` does both).

use asm_spin_check::{Manifest, Platform, built_component, compose_like_spin, platform_wit_dir, world_names};

const AUTH: &str = "auth";

/// Spin 3.6's platform world, from the WIT vendored from spin-sdk 5.2.0.
fn platform() -> Platform {
    Platform::from_wit(&platform_wit_dir(), "platform").expect("Spin's platform WIT parses")
}

/// The auth component and its one dependency, as spin.toml names them.
fn components() -> (Vec<u8>, String, Vec<u8>) {
    let manifest = Manifest::load().unwrap();
    let auth = built_component(&manifest.source(AUTH).unwrap()).unwrap();
    let deps = manifest.dependencies(AUTH).unwrap();
    assert_eq!(deps.len(), 1, "one package-wide dependency entry: {deps:?}");
    let (name, path) = deps.into_iter().next().unwrap();
    (auth, name, built_component(&path).unwrap())
}

fn is_store_import(name: &str) -> bool {
    name.starts_with("asm:auth/")
}

#[test]
fn spin_platform_world_is_what_spin_3_6_links() {
    let p = platform();
    for name in [
        "spin:postgres/postgres@4.0.0",
        "fermyon:spin/redis@2.0.0",
        "fermyon:spin/variables@2.0.0",
        "wasi:cli/environment@0.2.6",
        "wasi:filesystem/preopens@0.2.6",
        "wasi:http/types@0.2.6",
        "wasi:io/poll@0.2.0",
        "wasi:config/store@0.2.0-draft-2024-09-27",
    ] {
        assert!(p.names().any(|n| n == name), "{name} not in the platform world");
    }
    assert!(p.provides("wasi:io/streams@0.2.4"), "0.2.4 runs where 0.2.6 is provided");
    assert!(!p.provides("wasi:io/streams@0.2.7"), "nothing newer than 0.2.6");
    assert!(!p.names().any(|n| n.contains("0.3.0-rc")), "@unstable WASIp3 items are left out");
}

#[test]
fn composed_component_imports_only_what_spin_provides() {
    let (auth, dependency, adapter) = components();
    let composed = compose_like_spin(AUTH, &auth, &dependency, &adapter).expect("composes as Spin composes");
    let (imports, exports) = world_names(&composed).unwrap();
    println!("composed component: {} bytes", composed.len());
    println!("imports ({}):", imports.len());
    for i in &imports {
        println!("  {i}");
    }
    println!("exports: {exports:?}");

    assert!(!imports.iter().any(|i| is_store_import(i)), "asm:auth imports left after composition: {imports:?}");
    let missing = platform().missing(&imports);
    assert!(missing.is_empty(), "imports Spin 3.6 does not provide: {missing:?}");
    assert!(
        exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "no wasi:http/incoming-handler@0.2.x export: {exports:?}"
    );
}

#[test]
fn adapter_exports_every_store_interface_auth_imports() {
    let (auth, _, adapter) = components();
    let (auth_imports, _) = world_names(&auth).unwrap();
    let (adapter_imports, adapter_exports) = world_names(&adapter).unwrap();
    let store: Vec<&String> = auth_imports.iter().filter(|i| is_store_import(i)).collect();
    assert_eq!(store.len(), 8, "{auth_imports:?}");
    for i in store {
        assert!(adapter_exports.contains(i), "the adapter does not export {i}: {adapter_exports:?}");
    }
    assert!(!adapter_imports.iter().any(|i| is_store_import(i)), "the adapter imports {adapter_imports:?}");
    let missing = platform().missing(&adapter_imports);
    assert!(missing.is_empty(), "adapter imports Spin does not provide: {missing:?}");
}

// The check must fail when it should.

#[test]
fn without_the_adapter_the_store_imports_are_reported() {
    let (auth, _, _) = components();
    let (imports, _) = world_names(&auth).unwrap();
    let mut missing = platform().missing(&imports);
    missing.sort();
    assert_eq!(
        missing,
        [
            "asm:auth/events@0.1.0",
            "asm:auth/geo@0.1.0",
            "asm:auth/hashing@0.1.0",
            "asm:auth/keyring@0.1.0",
            "asm:auth/mailer@0.1.0",
            "asm:auth/session-store@0.1.0",
            "asm:auth/types@0.1.0",
            "asm:auth/user-store@0.1.0"
        ],
        "auth on its own must need exactly its store imports"
    );
}

#[test]
fn an_import_spin_does_not_provide_is_reported() {
    let (auth, dependency, adapter) = components();
    let (mut imports, _) = world_names(&compose_like_spin(AUTH, &auth, &dependency, &adapter).unwrap()).unwrap();
    imports.push("acme:thing/api@1.0.0".into());
    imports.push("wasi:io/poll@0.2.9".into());
    imports.push("fermyon:spin/redis@3.0.0".into());
    assert_eq!(
        platform().missing(&imports),
        ["acme:thing/api@1.0.0", "wasi:io/poll@0.2.9", "fermyon:spin/redis@3.0.0"]
    );
}

#[test]
fn a_dependency_that_does_not_fit_fails_to_compose() {
    let (auth, dependency, adapter) = components();
    // auth exports none of its store imports: Spin says "doesn't export".
    let err = compose_like_spin(AUTH, &auth, &dependency, &auth).unwrap_err();
    assert!(format!("{err:#}").contains("doesn't export"), "{err:#}");
    // A version no import has: Spin says "doesn't match any imports".
    let err = compose_like_spin(AUTH, &auth, "asm:auth@0.2.0", &adapter).unwrap_err();
    assert!(format!("{err:#}").contains("doesn't match any imports"), "{err:#}");
}

#[test]
fn vendored_platform_wit_matches_the_spin_sdk_crate() {
    // The spin-sdk crate the adapter builds with, in the local Cargo registry.
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(sdk) = home
        .and_then(|h| std::fs::read_dir(h.join("registry/src")).ok())
        .and_then(|dirs| dirs.flatten().map(|d| d.path().join("spin-sdk-5.2.0/wit")).find(|p| p.is_dir()))
    else {
        eprintln!("skipped: spin-sdk 5.2.0 is not in the local Cargo registry");
        return;
    };
    let vendored = platform_wit_dir();
    let mut compared = 0;
    let mut stack = vec![vendored.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&vendored).unwrap();
            let theirs = std::fs::read(sdk.join(rel))
                .unwrap_or_else(|_| panic!("{} is not in {}", rel.display(), sdk.display()));
            assert!(std::fs::read(&path).unwrap() == theirs, "{} differs from {}", rel.display(), sdk.display());
            compared += 1;
        }
    }
    assert!(compared > 100, "compared {compared} files");
}
