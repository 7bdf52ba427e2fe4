//! What an attacker can do to the running service, and what it costs them instead of us: slow
//! bodies and headers, requests past their deadline, made-up methods and hosts.

use crate::support::*;
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Writes raw bytes and leaves the connection open.
async fn open_with(addr: &str, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// Everything the server sends before it closes the connection (or `wait` runs out).
async fn read_until_closed(s: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// More slow clients than instance slots, kept open past the request timeout: the service keeps
/// answering everyone else at once, the slow bodies get 408 and the slow heads are closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_headers_do_not_starve_other_clients() {
    let app = spawn_with(
        Options::default()
            .arg("--max-concurrent-requests", "4")
            .arg("--request-timeout", "2s")
            .arg("--body-read-timeout", "3s")
            .arg("--header-read-timeout", "3s"),
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let body_head =
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em";
    let mut bodies = Vec::new();
    for _ in 0..12 {
        bodies.push(open_with(&addr, body_head).await);
    }
    let mut heads = Vec::new();
    for _ in 0..4 {
        heads.push(open_with(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: sl").await);
    }

    // Served promptly while the slow ones hold their connections, past the request timeout.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(2_500) {
        let t = Instant::now();
        assert_eq!(app.get("/healthz").await.status, 200);
        assert_eq!(app.get("/auth/user/me").await.status, 401);
        slowest = slowest.max(t.elapsed());
        served += 2;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{} slow bodies and {} slow heads against 4 instance slots: {served} other requests served, the slowest in {slowest:?}",
        bodies.len(),
        heads.len()
    );
    assert!(slowest < Duration::from_millis(500), "slowest other request took {slowest:?}");

    for s in &mut bodies {
        let answer = read_until_closed(s, Duration::from_secs(3)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "a stalled body gets 408: {answer:?}");
        assert!(answer.contains(r#""status":408"#), "in the envelope: {answer}");
    }
    for s in &mut heads {
        let answer = read_until_closed(s, Duration::from_secs(3)).await;
        assert!(!answer.contains("200 OK"), "a request whose head never ended is not served: {answer:?}");
    }
    eprintln!("every slow client was answered or closed {:?} after it started", started.elapsed());
    let t = Instant::now();
    assert_eq!(app.get("/healthz").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(500));
}

/// An instance waiting in the host (no epoch deadline fires there) is dropped at the deadline,
/// and its slot serves the next request at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gives_its_instance_back() {
    let app = spawn_with(
        Options::default()
            .arg("--component", fault_component().to_str().unwrap())
            .arg("--max-concurrent-requests", "2")
            .arg("--request-timeout", "1s"),
    )
    .await;
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let url = app.url("/sleep");
            tokio::spawn(async move {
                let started = Instant::now();
                (Reply::from(client().get(url).send().await.unwrap()).await.status, started.elapsed())
            })
        })
        .collect();
    for s in sleepers {
        let (status, took) = s.await.unwrap();
        assert_eq!(status, 503, "ended at the deadline");
        assert!(took < Duration::from_millis(1_800), "{took:?}");
    }
    let t = Instant::now();
    let resp = client().get(app.url("/anything")).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.text().await.unwrap().as_str()), (200, "ok"));
    assert!(t.elapsed() < Duration::from_millis(300), "the slots were free: {:?}", t.elapsed());
}

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The fault component's host as a process of its own, so its CPU time is its alone.
struct HostProcess {
    child: Child,
    base: String,
}

impl HostProcess {
    async fn start(args: &[&str]) -> HostProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/asm-test-cache");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_asm"))
            .current_dir(std::env::temp_dir())
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string(), "--metrics-addr", "off"])
            .args([
                "--database-url",
                &sqlite_url(),
                "--cache-dir",
                cache.to_str().unwrap(),
                "--secret-key",
                TEST_SECRET_KEY,
            ])
            .args(args)
            .env_remove("REDIS_URL")
            .env_remove("REDIS_ADDR")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the asm binary starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if client().get(format!("{base}/ready")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        HostProcess { child, base }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deadline is wall-clock time: looping instances sharing two cores stop burning CPU when
/// their requests end, however rarely each got to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_requests_stop_using_cpu_at_their_deadline() {
    let host =
        HostProcess::start(&["--component", fault_component().to_str().unwrap(), "--request-timeout", "2s"]).await;
    let pid = host.child.id();
    let started = Instant::now();
    let loops: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/loop", host.base);
            tokio::spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for l in loops {
        assert_eq!(l.await.unwrap().unwrap(), 503);
    }
    let answered = started.elapsed();
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_deadline = cpu_seconds(pid) - before;
    eprintln!(
        "6 looping requests, 2 s deadline: all answered after {answered:?}; {after_deadline:.2} CPU-s in the 2 s after"
    );
    assert!(answered < Duration::from_millis(3_500), "{answered:?}");
    assert!(after_deadline < 0.3, "{after_deadline} CPU seconds after the deadline");
}

/// A `Host` that is not a host name is bad input: 400 in the envelope, not a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_host_header_is_a_400() {
    let app = spawn().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // hyper itself refuses bytes no header may hold (its own 400, without a body); the service
    // refuses the rest, in the envelope.
    for (host, envelope) in
        [("bücher.example".as_bytes(), true), (b"a b", true), (b"host/path", true), (b"x\x7f", false)]
    {
        let mut req = b"GET /healthz HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let mut s = open_with(&addr, &req).await;
        let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{host:?}: {answer:?}");
        assert_eq!(answer.contains(r#""status":400"#), envelope, "{answer}");
    }
    assert_eq!(app.get("/healthz").await.status, 200);
}

/// Made-up methods cannot grow the metrics (or the process) without bound, and metrics are not
/// on the service's port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_stay_small_whatever_methods_clients_invent() {
    let app = spawn().await;
    let before = client().get(&app.metrics).send().await.unwrap().text().await.unwrap().len();
    for i in 0..300 {
        let method = format!("X{i:04}{}", "M".repeat(8_000));
        let req = app.client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url("/healthz"));
        let status = req.send().await.unwrap().status().as_u16();
        assert_eq!(status, 405, "an unknown method on a known route");
    }
    let text = client().get(&app.metrics).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(!text.contains("MMMM"), "no client-made method is a label");
    eprintln!("/metrics: {before} bytes before 300 made-up 8 KB methods, {} after", text.len());
    assert!(text.len() < before + 4_096, "{} bytes", text.len());
    assert_eq!(app.get("/metrics").await.status, 404, "the service port does not serve metrics");
}

/// Probing a locked account costs one history row per lock, not one per probe, and the same
/// store work whether or not the email has an account (guest/src/tests.rs counts the calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_of_a_locked_account_are_recorded_once() {
    let app = spawn_with(Options::default().env("LOGIN_LOCKOUT_WINDOW", "1s")).await;
    let creds = app.new_user().await;
    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong guess").await.status, 401);
    }
    for _ in 0..10 {
        assert_eq!(app.login_with(&client(), &creds.email, "probe").await.status, 429);
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let token = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let history = app.get_as(&token, "/auth/user/logins?per_page=100").await;
    let outcomes: Vec<&str> =
        history.body["data"]["logins"].as_array().unwrap().iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "locked").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "invalid_credentials").count(), 5, "{outcomes:?}");
    assert_eq!(outcomes[0], "success");
}

/// A request that carries the session cookie twice is refused: a cookie planted from a sibling
/// domain must not decide which session it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_session_cookie_is_refused() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let mine = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let other = app.new_user().await;
    let planted = app.login_with(&client(), &other.email, &other.password).await.token().unwrap();
    for cookie in [
        format!("session_token={planted}; session_token={mine}"),
        format!("session_token={mine}; theme=x; session_token={mine}"),
    ] {
        let r = Reply::from(
            reqwest::Client::new().get(app.url("/auth/user/me")).header("cookie", cookie).send().await.unwrap(),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body["error"].as_str().unwrap().contains("more than once"), "{}", r.body);
    }
    assert_eq!(app.get_as(&mine, "/auth/user/me").await.status, 200);
}

/// Without a setting, a user keeps at most 20 sessions; the least recently used makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_per_user_are_capped_by_default() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let mut tokens = Vec::new();
    for _ in 0..21 {
        tokens.push(app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap());
    }
    let listed = app.get_as(tokens.last().unwrap(), "/auth/user/sessions").await;
    assert_eq!(listed.body["data"]["total_active_sessions"], 20);
    assert_eq!(app.get_as(&tokens[0], "/auth/user/me").await.status, 401, "the oldest made room");
}

/// With PUBLIC_URL set, a cookie-authenticated request from the same host over another scheme
/// or port is another origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_url_the_origins_scheme_and_port_count() {
    let app = spawn_with(Options::default().env("PUBLIC_URL", "https://auth.example.com")).await;
    let creds = app.new_user().await;
    let token = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let logout = |origin: &'static str| {
        let (url, token) = (app.url("/auth/logout"), token.clone());
        async move {
            let req = reqwest::Client::new()
                .post(url)
                .header("host", "auth.example.com")
                .header("origin", origin)
                .header("cookie", format!("session_token={token}"));
            Reply::from(req.send().await.unwrap()).await.status
        }
    };
    assert_eq!(logout("http://auth.example.com").await, 403, "plain http");
    assert_eq!(logout("https://auth.example.com:8443").await, 403, "another port");
    assert_eq!(logout("https://auth.example.com").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/auth/user/me").await.status, 401);
    let text = app.client.get(&app.metrics).send().await.unwrap().text().await.unwrap();
    for needle in [
        r#"asm_http_requests_total{method="GET",route="/healthz",status="200"}"#,
        r#"asm_http_requests_total{method="GET",route="/auth/user/me",status="401"}"#,
        r#"asm_http_request_duration_seconds_bucket{le="0.001",route="/healthz"}"#,
        "asm_component_instances_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let instances: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("asm_component_instances_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(instances >= 2.0);
}

/// A request head over 64 KiB (one long header line, or many) is refused with 431, whatever the
/// shape; one just under is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_64_kib_is_refused() {
    let app = spawn().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let one_line = format!("X-Big: {}\r\n", "a".repeat(100 * 1024));
    let many_lines: String = (0..100).map(|i| format!("X-Part-{i}: {}\r\n", "b".repeat(1000))).collect();
    for (shape, headers) in [("one 100 KB line", one_line), ("100 lines of 1 KB", many_lines)] {
        let req = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
        let mut s = open_with(&addr, req.as_bytes()).await;
        let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{shape}: {}", &answer[..answer.len().min(200)]);
    }
    let fits =
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fits: {}\r\nConnection: close\r\n\r\n", "c".repeat(60_000));
    let mut s = open_with(&addr, fits.as_bytes()).await;
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", &answer[..answer.len().min(200)]);
}

/// A flood of logins does not take every instance: password checks take turns (one at a time
/// here), a bounded number wait for one, and the rest are told to come back (503 with
/// `Retry-After`) at once, while session checks keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_waits_its_turn_or_is_refused() {
    let app = spawn_with(
        Options::default()
            .env("PASSWORD_HASH", "bcrypt")
            .env("BCRYPT_COST", "10")
            .env("LOGIN_IP_MAX_ATTEMPTS", "100000")
            .arg("--hash-concurrency", "1")
            .arg("--hash-queue", "2"),
    )
    .await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let flood: Vec<_> = (0..24)
        .map(|i| {
            let (url, email) = (app.url("/auth/login"), format!("flood{i}-{}@example.com", unique("")));
            tokio::spawn(async move {
                let r = client().post(url).json(&json!({ "email": email, "password": "a wrong guess" })).send().await;
                let r = r.unwrap();
                (r.status().as_u16(), r.headers().contains_key("retry-after"))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200, "session checks answer during the flood");
    let mut statuses = Vec::new();
    for f in flood {
        statuses.push(f.await.unwrap());
    }
    let refused = statuses.iter().filter(|(s, retry)| *s == 503 && *retry).count();
    let checked = statuses.iter().filter(|(s, _)| *s == 401).count();
    eprintln!("a flood of 24 logins: {checked} checked, {refused} told to retry: {statuses:?}");
    assert!(statuses.iter().all(|(s, _)| *s == 401 || *s == 503), "{statuses:?}");
    assert!(refused >= 12, "most of the flood is refused at once: {statuses:?}");
    assert!(checked >= 3, "the checks that got a turn (or waited for one) went on: {statuses:?}");
}
