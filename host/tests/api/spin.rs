//! The same suite under a real `spin up`: with `ASM_TEST_TARGET=spin` (`make spin-e2e`), every
//! app a test starts is the repository's `spin.toml` run by Spin against the test database and
//! a Redis key prefix of its own, and the conformance suite reaches the Spin adapter's stores
//! through the store probe (`host/tests/store-probe`), a test component Spin composes with the
//! adapter beside the auth component.

use crate::support::{Options, TEST_SECRET_KEY, component};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether this run serves its apps with Spin (`ASM_TEST_TARGET=spin`).
pub fn target_is_spin() -> bool {
    match std::env::var("ASM_TEST_TARGET").as_deref() {
        Ok("spin") => true,
        Ok("native") | Err(_) => false,
        Ok(other) => panic!("ASM_TEST_TARGET={other}: expected native or spin"),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The Spin CLI: `$SPIN`, else `spin` on the PATH, else the copy beside the repository.
pub fn spin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SPIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("spin")).find(|p| p.is_file()))
        .unwrap_or_default();
    let beside = [repo().join("../shared/tools/spin/spin"), PathBuf::from("/work/shared/tools/spin/spin")];
    on_path.or_else(|| beside.into_iter().find(|p| p.is_file())).unwrap_or_else(|| {
        panic!(
            "no Spin CLI: set SPIN=/path/to/spin, put `spin` on the PATH, or install Spin 3.4+ \
             (https://spinframework.dev); this repository's tests look for ../shared/tools/spin/spin too"
        )
    })
}

/// The wasm files the test manifest names, built by `make spin-e2e`.
fn built(name: &str) -> PathBuf {
    let path = component().with_file_name(name);
    assert!(path.exists(), "{} is not built: run `make spin-e2e`", path.display());
    path
}

/// `spin.toml` as the repository has it, with absolute paths, plus the store probe composed
/// with the same adapter at `/store-probe/...`. Written once per test process.
fn manifest() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let original = std::fs::read_to_string(repo().join("spin.toml")).unwrap();
        let (guest, adapter, probe) =
            (built("asm_guest.wasm"), built("asm_spin_adapter.wasm"), built("asm_store_probe.wasm"));
        let mut text = original
            .replace("\"target/wasm32-wasip2/wasm/asm_guest.wasm\"", &format!("{:?}", guest.to_str().unwrap()))
            .replace(
                "\"target/wasm32-wasip2/wasm/asm_spin_adapter.wasm\"",
                &format!("{:?}", adapter.to_str().unwrap()),
            );
        assert_ne!(text, original, "spin.toml no longer names the built components where the tests expect");
        let auth = toml_section(&original, "[component.auth.variables]");
        text.push_str(&format!(
            r#"
[[trigger.http]]
route = "/store-probe/..."
component = "probe"

[component.probe]
source = {probe:?}
allowed_outbound_hosts = ["postgres://{{{{ db_host }}}}", "redis://{{{{ redis_host }}}}"]
dependencies_inherit_configuration = true

[component.probe.variables]
{auth}

[component.probe.dependencies]
"asm:auth@0.1.0" = {{ path = {adapter:?} }}
"#,
            probe = probe.to_str().unwrap(),
            adapter = adapter.to_str().unwrap(),
        ));
        let dir = std::env::temp_dir().join(format!("asm-spin-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(&path, text).unwrap();
        path
    })
}

/// The lines of one TOML table, up to the next header.
fn toml_section(text: &str, header: &str) -> String {
    let start = text.find(header).unwrap_or_else(|| panic!("spin.toml has no {header}")) + header.len();
    let rest = &text[start..];
    let end = rest.find("\n[").unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// A running `spin up`.
pub struct SpinApp {
    pub base: String,
    child: Child,
    log: PathBuf,
}

impl SpinApp {
    pub async fn start(opts: &Options, database_url: &str, redis_url: &str, prefix: &str) -> SpinApp {
        assert!(
            opts.args.is_empty() && opts.database_url.is_none(),
            "this test needs the native host ({:?}, {:?}): it is not one of the suite's Spin modules",
            opts.args,
            opts.database_url
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = manifest().with_file_name(format!("spin-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(spin_binary());
        cmd.arg("up").arg("-f").arg(manifest()).args(["--listen", &format!("127.0.0.1:{port}")]);
        // The manifest runs in production; the tests speak plain HTTP.
        let mut env: Vec<(String, String)> = vec![("APP_ENV".into(), "development".into())];
        env.extend(opts.env.iter().cloned());
        for (k, v) in &env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        let url = url::Url::parse(redis_url).unwrap();
        let redis_host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
        let db = url::Url::parse(database_url).unwrap();
        let db_host = format!("{}:{}", db.host_str().unwrap(), db.port().unwrap_or(5432));
        let child = cmd
            .env("SPIN_VARIABLE_DB_URL", format!("{database_url}?sslmode=disable"))
            .env("SPIN_VARIABLE_DB_HOST", db_host)
            .env("SPIN_VARIABLE_REDIS_URL", redis_url)
            .env("SPIN_VARIABLE_REDIS_HOST", redis_host)
            .env("SPIN_VARIABLE_REDIS_KEY_PREFIX", prefix)
            .env("SPIN_VARIABLE_SECRET_KEY", TEST_SECRET_KEY)
            .current_dir(manifest().parent().unwrap())
            // `spin up` runs the app in a child process (`spin trigger http`): a group of their
            // own, so stopping the app stops both.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spin up starts");
        let mut app = SpinApp { base: format!("http://127.0.0.1:{port}"), child, log };
        let started = Instant::now();
        loop {
            if let Some(status) = app.child.try_wait().unwrap() {
                panic!("spin up exited ({status}):\n{}", app.log_tail());
            }
            if reqwest::get(format!("{}/healthz", app.base)).await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "spin up not ready in 60 s:\n{}", app.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app
    }

    /// Stops the app (dropping it does the same).
    pub fn stop(self) {}

    /// Kills `spin up` and its trigger process.
    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Spin adapter's stores, reached through the store probe of a running `spin up`.
/// The store probe under `spin up`, composed with the Spin adapter.
pub async fn probe() -> crate::probe::Probe {
    let prefix = format!("{}:", crate::support::unique("asm-conf-spin-"));
    let app =
        SpinApp::start(&Options::default(), &crate::support::database_url(), &crate::support::redis_url(), &prefix)
            .await;
    crate::probe::Probe::new(app.base.clone(), Box::new(app))
}
