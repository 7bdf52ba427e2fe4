//! The store probe (`host/tests/store-probe`), a test component that answers each store
//! operation of the contract over HTTP: how the conformance suite reaches stores that live only
//! inside another host, the Spin adapter under `spin up` and the JavaScript stores of the Node
//! example. [`Probe`] implements the store traits by calling it, one request per operation.

use asm_contract::*;
use std::any::Any;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running store probe at `base`; whatever runs it lives as long as this.
pub struct Probe {
    base: String,
    client: reqwest::Client,
    _server: Box<dyn Any + Send + Sync>,
}

impl Probe {
    pub fn new(base: String, server: Box<dyn Any + Send + Sync>) -> Probe {
        Probe { base, client: reqwest::Client::new(), _server: server }
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, op: &str, args: serde_json::Value) -> StoreResult<T> {
        let failed = |e: String| StoreError::Internal(format!("store probe {op}: {e}"));
        let url = format!("{}/store-probe/{op}", self.base);
        let resp = self.client.post(url).json(&args).send().await.map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
        if status != 200 {
            return Err(failed(format!("{status}: {}", String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice(&body).map_err(|e| failed(format!("{e}: {}", String::from_utf8_lossy(&body))))?
    }
}

macro_rules! call_the_probe {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        #[async_trait::async_trait]
        impl $Trait for Probe {
            $(
                async fn $op(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    let args = ($(<asm_contract::wit_type!($ty)>::from($arg),)*);
                    self.call(stringify!($op), serde_json::to_value(args).expect("arguments serialise")).await
                }
            )*
        }
    )*};
}

with_store_operations!(call_the_probe);

/// `node probe.js` of the Node example: the probe transpiled by jco onto `stores.js`. Killed
/// when dropped.
struct NodeProbe(std::sync::Mutex<Child>);

impl Drop for NodeProbe {
    fn drop(&mut self) {
        if let Ok(child) = self.0.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The store probe on the Node example's JavaScript stores (`make test` builds it: `npm run
/// build:probe` in examples/node-host).
pub async fn node() -> Probe {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/node-host");
    let fix = "run `make test-node-probe` (Node.js 20+ and npm: apt-get install -y nodejs npm)";
    assert!(dir.join("gen-probe/asm_store_probe.js").exists(), "the Node store probe is not built: {fix}");
    let mut child = Command::new("node")
        .arg("probe.js")
        .current_dir(&dir)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {fix}"));
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("probe listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let started = Instant::now();
    let base = loop {
        if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
            break url;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the Node store probe exited with {status}: {fix}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the Node store probe did not start in 30 s");
    };
    Probe::new(base, Box::new(NodeProbe(std::sync::Mutex::new(child))))
}
