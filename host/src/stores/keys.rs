//! The host's secret keys (`keyring` in wit/asm.wit), from the configuration: `ASM_SECRET_KEY`
//! (and `ASM_PREVIOUS_SECRET_KEYS`), else the key file `ASM_SECRET_KEY_FILE`. Development
//! defaults that file to ./data/secret.key and creates it when missing; production never falls
//! back to a file nobody named (one left in a working directory must not become its key).

use crate::config::{ServeConfig, production};
use anyhow::{Context as _, bail};
use asm_stores::keyring::SecretKeys;

/// Where development keeps its key when nothing else is configured.
pub const DEVELOPMENT_KEY_FILE: &str = "./data/secret.key";

pub fn load(cfg: &ServeConfig) -> anyhow::Result<SecretKeys> {
    let previous = cfg.previous_secret_keys.as_deref().unwrap_or("");
    if let Some(key) = cfg.secret_key.as_deref().filter(|k| !k.trim().is_empty()) {
        return SecretKeys::parse(key, previous).map_err(|e| anyhow::anyhow!("ASM_SECRET_KEY: {e}"));
    }
    let path = match (&cfg.secret_key_file, production()) {
        (Some(path), _) => path.clone(),
        (None, false) => std::path::PathBuf::from(DEVELOPMENT_KEY_FILE),
        (None, true) => bail!(
            "production needs a secret key: set ASM_SECRET_KEY to the output of `openssl rand -base64 32`, \
             or ASM_SECRET_KEY_FILE to a file holding it"
        ),
    };
    let path = &path;
    match std::fs::read_to_string(path) {
        Ok(key) => SecretKeys::parse(&key, previous).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !production() => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source: {e}"))?;
            let key = SecretKeys::encode(&bytes);
            write_private(path, &key).with_context(|| format!("cannot create the key file {}", path.display()))?;
            tracing::info!(file = %path.display(), "created a secret key for this development setup");
            SecretKeys::parse(&key, previous).map_err(|e| anyhow::anyhow!("{e}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("ASM_SECRET_KEY_FILE names {}, which does not exist", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};
    use asm_contract::Keyring as _;
    use clap::Parser as _;

    fn config(file: &std::path::Path) -> ServeConfig {
        let args = ["asm", "serve", "--secret-key-file", file.to_str().unwrap()];
        match Cli::try_parse_from(args).unwrap().command {
            Command::Serve(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn development_creates_a_private_key_file_once_and_keeps_using_it() {
        let dir = std::env::temp_dir().join(format!("asm-keys-{}", std::process::id()));
        let file = dir.join("nested").join("secret.key");
        let first = load(&config(&file)).unwrap();
        let tag = first.sign("p", b"m");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = load(&config(&file)).unwrap();
        assert!(again.verify("p", b"m", &tag), "the same key after a restart");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
