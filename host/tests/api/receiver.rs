//! A webhook receiver for the tests: plain HTTP on a local port (hyper), keeping every delivery
//! it accepts with its headers and body. It can answer 503 for a while ("down"), and it hands
//! what it kept to the Standard Webhooks reference library (npm `standardwebhooks`, run by
//! `host/tests/webhook-verify/verify.mjs`) to check the signatures with code that is not ours.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The secret the tests sign with: Standard Webhooks' form, `whsec_` and base64 of 32 bytes.
pub const SECRET: &str = "whsec_Q2hlY2tlZCBieSB0aGUgcmVmZXJlbmNlIGxpYnJhcnkhISE=";

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a webhook body is JSON")
    }

    /// The event's type (`user.created`, …).
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }

    pub fn user_id(&self) -> Option<String> {
        self.json()["data"]["user_id"].as_str().map(str::to_string)
    }
}

pub struct Receiver {
    pub port: u16,
    accepted: Arc<Mutex<Vec<Delivery>>>,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a free port for the receiver");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (down, refused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (keep, is_down, count) = (accepted.clone(), down.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { break };
                let (keep, is_down, count) = (keep.clone(), is_down.clone(), count.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (keep, is_down, count) = (keep.clone(), is_down.clone(), count.clone());
                        async move {
                            let header = |name: &str| {
                                req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
                            };
                            let (id, timestamp, signature) =
                                (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let status = if is_down.load(Ordering::SeqCst) {
                                count.fetch_add(1, Ordering::SeqCst);
                                503
                            } else {
                                let body = String::from_utf8_lossy(&body).into_owned();
                                keep.lock().unwrap().push(Delivery { id, timestamp, signature, body });
                                204
                            };
                            let resp = hyper::Response::builder().status(status).body(Full::new(Bytes::new())).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        Receiver { port, accepted, down, refused, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/asm", self.port)
    }

    /// From now on answer 503 (`true`) or accept (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many deliveries were answered 503.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.accepted.lock().unwrap().clone()
    }

    /// Waits until `accept` holds for what arrived (panics after `within`).
    pub async fn wait_until(&self, within: Duration, accept: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let start = std::time::Instant::now();
        loop {
            let got = self.deliveries();
            if accept(&got) {
                return got;
            }
            assert!(
                start.elapsed() < within,
                "deliveries after {within:?}: {:#?}",
                got.iter().map(|d| (d.id.clone(), d.event_type())).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn verifier_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook-verify")
}

/// Checks every delivery's signature with the Standard Webhooks reference library; returns how
/// many verified (the library's reasons for the others go to the test's output).
pub fn verify_with_reference_library(deliveries: &[Delivery], secret: &str) -> usize {
    let dir = verifier_dir();
    assert!(
        dir.join("node_modules/standardwebhooks").is_dir(),
        "the reference library is missing: run `make webhook-verify-deps` (npm ci in {})",
        dir.display()
    );
    let input: String = deliveries
        .iter()
        .map(|d| {
            let headers =
                json!({ "webhook-id": d.id, "webhook-timestamp": d.timestamp, "webhook-signature": d.signature });
            json!({ "headers": headers, "body": d.body }).to_string() + "\n"
        })
        .collect();
    let mut child = std::process::Command::new("node")
        .arg("verify.mjs")
        .arg(secret)
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20+ is needed for the webhook tests)");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the reference library did not run: {said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<usize> = stdout.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let [verified, refused] = counts[..] else { panic!("{said}") };
    assert_eq!(verified + refused, deliveries.len(), "{said}");
    if refused > 0 {
        eprintln!("{said}");
    }
    verified
}
