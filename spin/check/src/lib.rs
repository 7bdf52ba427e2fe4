//! What Spin does with `spin.toml`'s `[component.auth.dependencies]`, done here without Spin,
//! and what Spin's host provides, read from Spin's own WIT.
//!
//! - [`compose_like_spin`] follows `crates/compose/src/lib.rs` of Spin v3.6.3 step by step:
//!   the auth component is registered under its component id, the adapter under the
//!   dependency's package name (`asm:auth`), every import of `asm:auth@0.1.0` is matched,
//!   type-checked (export ⊑ import) and plugged from the adapter's export of the same name,
//!   every export of auth is re-exported, and the graph is encoded with validation.
//! - [`Platform`] is the set of interfaces Spin 3.6 links for a component: the imports of
//!   `world platform` in `package spin:up@3.6.0`, vendored in `wit/spin-platform` from the
//!   spin-sdk 5.2.0 crate (see `wit/README.md`).

use anyhow::{Context, Result, bail, ensure};
use semver::Version;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use wac_graph::types::{Package, SubtypeChecker, Types};
use wac_graph::{CompositionGraph, EncodeOptions};

/// The repository root (this crate is `spin/check`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The directory of Spin's platform WIT vendored here.
pub fn platform_wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/spin-platform")
}

/// A component that `make spin-build` writes, or an error saying so.
pub fn built_component(rel: &str) -> Result<Vec<u8>> {
    let path = repo_root().join(rel);
    std::fs::read(&path).with_context(|| format!("{} is missing: run `make spin-build` first", path.display()))
}

/// The imports and exports of a component, by name.
pub fn world_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    let mut types = Types::default();
    let package = Package::from_bytes("component", None, bytes.to_vec(), &mut types)?;
    let world = &types[package.ty()];
    Ok((world.imports.keys().cloned().collect(), world.exports.keys().cloned().collect()))
}

/// A dependency name as `spin.toml` writes it: `ns:pkg@ver` (package form), or
/// `ns:pkg/iface@ver` (one interface); the version is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyName {
    pub package: String,
    pub interface: Option<String>,
    pub version: Option<Version>,
}

impl DependencyName {
    pub fn parse(s: &str) -> Result<Self> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(Version::parse(v).with_context(|| format!("version of {s:?}"))?)),
            None => (s, None),
        };
        let (package, interface) = match name.split_once('/') {
            Some((p, i)) => (p.to_string(), Some(i.to_string())),
            None => (name.to_string(), None),
        };
        ensure!(package.contains(':'), "{s:?} is not a package or interface name");
        Ok(DependencyName { package, interface, version })
    }

    /// Spin's `matches_import`: same package, same interface when one is named, same version
    /// when one is given.
    pub fn matches(&self, import: &str) -> bool {
        let (path, version) = match import.split_once('@') {
            Some((p, v)) => (p, Version::parse(v).ok()),
            None => (import, None),
        };
        let Some((package, interface)) = path.split_once('/') else { return false };
        package == self.package
            && self.interface.as_deref().is_none_or(|i| i == interface)
            && self.version.as_ref().is_none_or(|v| version.as_ref() == Some(v))
    }
}

/// Composes `auth` (the depender, named by its component id) with one dependency component
/// the way Spin 3.6 does at `spin up`, and returns the encoded, validated component.
pub fn compose_like_spin(component_id: &str, auth: &[u8], dependency: &str, dep: &[u8]) -> Result<Vec<u8>> {
    let name = DependencyName::parse(dependency)?;
    let mut graph = CompositionGraph::new();

    let auth_pkg = Package::from_bytes(component_id, None, auth.to_vec(), graph.types_mut())?;
    let auth_world = auth_pkg.ty();
    let auth_id = graph.register_package(auth_pkg)?;
    let auth_inst = graph.instantiate(auth_id);

    let matched: Vec<String> = graph.types()[auth_world].imports.keys().filter(|i| name.matches(i)).cloned().collect();
    if matched.is_empty() {
        bail!("dependency '{dependency}' doesn't match any imports of component '{component_id}'");
    }

    // Spin registers the dependency under its package name; with deny-all off
    // (`dependencies_inherit_configuration = true`) the bytes are used as they are.
    let dep_pkg = Package::from_bytes(&name.package, None, dep.to_vec(), graph.types_mut())?;
    let dep_world = dep_pkg.ty();
    let dep_id = graph.register_package(dep_pkg)?;
    let dep_inst = graph.instantiate(dep_id);

    let mut cache = HashSet::new();
    let mut arguments = Vec::new();
    for import in &matched {
        let Some(export_ty) = graph.types()[dep_world].exports.get(import).copied() else {
            bail!("dependency '{dependency}' doesn't export '{import}' to satisfy import '{import}'");
        };
        let import_ty = graph.types()[auth_world].imports[import];
        SubtypeChecker::new(&mut cache).is_subtype(export_ty, graph.types(), import_ty, graph.types()).with_context(
            || format!("dependency '{dependency}' exports '{import}' which is not compatible with import '{import}'"),
        )?;
        arguments.push((import.clone(), graph.alias_instance_export(dep_inst, import)?));
    }
    for (import, node) in arguments {
        graph.set_instantiation_argument(auth_inst, &import, node)?;
    }
    let exports: Vec<String> = graph.types()[auth_world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph.alias_instance_export(auth_inst, &export)?;
        graph.export(node, &export)?;
    }
    graph.encode(EncodeOptions::default()).context("encoding produced a component that failed validation")
}

/// The interfaces a Spin host links: exact names, and for stable semver versions the newest
/// version of each interface per compatible line (`wasi:io/poll` 0.2 → 0.2.6).
#[derive(Debug, Default)]
pub struct Platform {
    names: BTreeSet<String>,
    newest: BTreeMap<(String, String), Version>,
}

/// `ns:pkg/iface@1.2.3` → (`ns:pkg/iface`, version).
fn split_versioned(name: &str) -> Option<(&str, Version)> {
    let (path, version) = name.split_once('@')?;
    Some((path, Version::parse(version).ok()?))
}

/// The semver line a version belongs to: `1` for 1.x, `0.2` for 0.2.x, `0.0.3` for 0.0.3.
fn line(v: &Version) -> String {
    match (v.major, v.minor) {
        (0, 0) => format!("0.0.{}", v.patch),
        (0, m) => format!("0.{m}"),
        (major, _) => major.to_string(),
    }
}

impl Platform {
    pub fn from_names<I: IntoIterator<Item = String>>(names: I) -> Platform {
        let mut p = Platform::default();
        for name in names {
            if let Some((path, v)) = split_versioned(&name)
                && v.pre.is_empty()
            {
                let newest = p.newest.entry((path.to_string(), line(&v))).or_insert_with(|| v.clone());
                if v > *newest {
                    *newest = v;
                }
            }
            p.names.insert(name);
        }
        p
    }

    /// The imports of world `world` of the package in `dir` (a WIT directory with `deps/`).
    /// `@unstable` items are left out, as Spin leaves them out unless a feature is enabled.
    pub fn from_wit(dir: &Path, world: &str) -> Result<Platform> {
        let mut resolve = wit_parser::Resolve::default();
        let (pkg, _) = resolve.push_dir(dir).with_context(|| format!("parsing {}", dir.display()))?;
        let world = resolve.select_world(&[pkg], Some(world))?;
        let names = resolve.worlds[world].imports.keys().map(|k| resolve.name_world_key(k)).collect::<Vec<_>>();
        Ok(Platform::from_names(names))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether an import is linked: by its exact name, or, for a stable version, by a
    /// semver-compatible version of the same interface that is the same or newer (a component
    /// importing WASI 0.2.4 runs on a host with 0.2.6, not the other way round).
    pub fn provides(&self, import: &str) -> bool {
        if self.names.contains(import) {
            return true;
        }
        let Some((path, v)) = split_versioned(import) else { return false };
        v.pre.is_empty() && self.newest.get(&(path.to_string(), line(&v))).is_some_and(|newest| *newest >= v)
    }

    /// The imports this platform does not provide.
    pub fn missing<'a>(&self, imports: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        imports.into_iter().filter(|i| !self.provides(i)).cloned().collect()
    }
}

/// The parts of `spin.toml` the checks read.
pub struct Manifest {
    pub table: toml::Table,
}

impl Manifest {
    pub fn load() -> Result<Manifest> {
        let path = repo_root().join("spin.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Manifest { table: text.parse().with_context(|| format!("parsing {}", path.display()))? })
    }

    pub fn component(&self, id: &str) -> Result<&toml::Table> {
        self.table
            .get("component")
            .and_then(|c| c.get(id))
            .and_then(|c| c.as_table())
            .with_context(|| format!("spin.toml has no [component.{id}]"))
    }

    /// The component's `source`, a path relative to the manifest.
    pub fn source(&self, id: &str) -> Result<String> {
        self.component(id)?
            .get("source")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .with_context(|| format!("[component.{id}] has no local `source` path"))
    }

    /// The component's `[dependencies]` as (name, local path) pairs.
    pub fn dependencies(&self, id: &str) -> Result<Vec<(String, String)>> {
        let Some(deps) = self.component(id)?.get("dependencies").and_then(|d| d.as_table()) else { return Ok(vec![]) };
        deps.iter()
            .map(|(name, dep)| {
                let path = dep
                    .get("path")
                    .and_then(|p| p.as_str())
                    .with_context(|| format!("dependency {name:?} has no `path`"))?;
                Ok((name.clone(), path.to_string()))
            })
            .collect()
    }
}

/// Every `{{ name }}` in a string.
pub fn template_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        names.push(rest[start + 2..start + 2 + len].trim().to_string());
        rest = &rest[start + 2 + len + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_compared_within_their_semver_line() {
        let p = Platform::from_names(
            [
                "wasi:io/poll@0.2.6",
                "wasi:io/poll@0.2.0",
                "fermyon:spin/redis@2.0.0",
                "wasi:keyvalue/store@0.2.0-draft2",
            ]
            .map(String::from),
        );
        assert!(p.provides("wasi:io/poll@0.2.4"));
        assert!(p.provides("wasi:io/poll@0.2.6"));
        assert!(!p.provides("wasi:io/poll@0.2.7"));
        assert!(!p.provides("wasi:io/poll@0.3.0"));
        assert!(!p.provides("wasi:io/streams@0.2.0"));
        assert!(p.provides("fermyon:spin/redis@2.0.0"));
        assert!(p.provides("fermyon:spin/redis@2.0.0"));
        assert!(!p.provides("fermyon:spin/redis@2.1.0"));
        assert!(p.provides("wasi:keyvalue/store@0.2.0-draft2"));
        assert!(!p.provides("wasi:keyvalue/store@0.2.0-draft1"));
        assert!(!p.provides("my-import"));
    }

    #[test]
    fn dependency_names_match_imports_like_spin() {
        let pkg = DependencyName::parse("asm:auth@0.1.0").unwrap();
        assert!(pkg.matches("asm:auth/geo@0.1.0"));
        assert!(!pkg.matches("asm:auth/geo@0.2.0"));
        assert!(!pkg.matches("asm:other/geo@0.1.0"));
        let iface = DependencyName::parse("asm:auth/geo").unwrap();
        assert!(iface.matches("asm:auth/geo@0.1.0") && !iface.matches("asm:auth/types@0.1.0"));
        assert!(DependencyName::parse("plain").is_err());
    }
}
