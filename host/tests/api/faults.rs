//! Stores that go away: 503 in the envelope, and recovery without a restart. Uses a private
//! redis-server and a TCP relay in front of PostgreSQL; the machine's services stay up.

use crate::support::*;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for this test: apt-get install -y redis-server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "private redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { port, child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Forwards a local port to PostgreSQL; `stop` closes the port and every relayed connection.
pub struct Relay {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Relay {
    pub async fn start(port: u16, upstream: SocketAddr) -> Relay {
        let started = Instant::now();
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    eprintln!("relay port {port} not free yet: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("relay cannot bind {port}: {e}"),
            }
        };
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                pipes.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { addr: ([127, 0, 0, 1], port).into(), task }
    }

    pub async fn stop(self) {
        // Dropping the accept loop drops the JoinSet, which aborts every relayed connection.
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn wait_until_ready(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if app.get("/readyz").await.status == 200 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not ready again within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_503_and_the_service_recovers_when_it_returns() {
    let mut redis = PrivateRedis::start(free_port());
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let app = spawn_with(Options { redis_url: Some(url), ..Options::default() }.arg("--store-timeout", "1s")).await;
    let creds = app.new_user().await;
    assert_eq!(app.login(&creds).await.status, 200);

    redis.stop();
    for (path, login) in [("/auth/user/me", false), ("/auth/login", true), ("/readyz", false)] {
        let started = Instant::now();
        let r = if login { app.login(&creds).await } else { app.get(path).await };
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert!(started.elapsed() < Duration::from_secs(5), "{path} answered in {:?}", started.elapsed());
    }
    assert_eq!(app.get("/healthz").await.status, 200, "the process itself is up");

    let _redis = PrivateRedis::start(redis.port);
    let took = wait_until_ready(&app, Duration::from_secs(5)).await;
    eprintln!("redis: ready again {took:?} after it returned");
    // The restarted Redis kept nothing: the old session is gone and a new login works.
    assert_eq!(app.get("/auth/user/me").await.status, 401);
    assert_eq!(app.login(&creds).await.status, 200);
    assert_eq!(app.get("/auth/user/me").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_is_a_503_and_the_service_recovers_when_it_returns() {
    let port = free_port();
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let relay = Relay::start(port, upstream).await;
    let shared = database_url();
    let db = shared.rsplit('/').next().unwrap();
    let via_relay = format!("postgres://postgres@{}/{db}", relay.addr);
    let app =
        spawn_with(Options { database_url: Some(via_relay), ..Options::default() }.arg("--store-timeout", "1s")).await;
    let creds = app.new_user().await;
    assert_eq!(app.login(&creds).await.status, 200);

    relay.stop().await;
    let started = Instant::now();
    let r = app.login(&creds).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = app
        .register(serde_json::json!({"email": format!("{}@example.com", unique("pg")), "username": unique("pg")[..10].to_string(), "password": "correct horse", "full_name": "P"}))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(app.get("/readyz").await.status, 503);

    let _relay = Relay::start(port, upstream).await;
    let took = wait_until_ready(&app, Duration::from_secs(5)).await;
    eprintln!("postgres: ready again {took:?} after it returned");
    assert_eq!(app.login(&creds).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_redis_lets_users_log_in_again_and_brings_no_revoked_session_back() {
    let mut redis = PrivateRedis::start(free_port());
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let app = spawn_with(Options { redis_url: Some(url), ..Options::default() }.arg("--store-timeout", "1s")).await;
    let creds = app.new_user().await;
    let revoked = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let live = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let r =
        Reply::from(reqwest::Client::new().post(app.url("/auth/logout")).bearer_auth(&revoked).send().await.unwrap())
            .await;
    assert_eq!(r.status, 200);

    redis.stop();
    let _redis = PrivateRedis::start(redis.port);
    wait_until_ready(&app, Duration::from_secs(5)).await;
    for token in [&revoked, &live] {
        assert_eq!(app.get_as(token, "/auth/user/me").await.status, 401, "sessions are gone, none comes back");
    }
    let fresh = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    assert_eq!(app.get_as(&fresh, "/auth/user/me").await.status, 200);
    assert_eq!(app.get_as(&revoked, "/auth/user/me").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_postgres_and_redis_share_sessions_and_lock_outs() {
    let prefix = format!("{}:", unique("asm-shared-"));
    let opts = Options::default().env("LOGIN_MAX_ATTEMPTS", "4").arg("--redis-key-prefix", &prefix);
    let (a, b) = (spawn_with(opts.clone()).await, spawn_with(opts).await);
    let creds = a.new_user().await;
    let token = a.login(&creds).await.token().unwrap();
    assert_eq!(b.get_as(&token, "/auth/user/me").await.status, 200, "a session made on one host works on the other");
    let r =
        Reply::from(reqwest::Client::new().post(b.url("/auth/logout")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(a.get_as(&token, "/auth/user/me").await.status, 401, "a logout on one ends it on both");

    for host in [&a, &b, &a, &b] {
        assert_eq!(host.login_with(&client(), &creds.email, "wrong password").await.status, 401);
    }
    let stranger = client();
    assert_eq!(a.login_with(&stranger, &creds.email, &creds.password).await.status, 429, "one lock-out on both hosts");
    assert_eq!(b.login_with(&stranger, &creds.email, &creds.password).await.status, 429);
    // The device that logged in on host a is known to host b too.
    assert_eq!(b.login_with(&a.client, &creds.email, &creds.password).await.status, 200);
}
