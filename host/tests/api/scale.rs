//! Past one machine: three hosts (the release binary, as separate processes) behind HAProxy,
//! sharing one PostgreSQL database and a Redis Cluster of three masters and three replicas.
//! Sessions, lock-out counts and revocation hold whichever host answers; a host killed under
//! load costs only the requests it held; a Redis master killed under load is replaced by its
//! replica and the service recovers by itself (the test reports how long it took and what was
//! lost). `ASM_SCALE_SECONDS` lengthens the load phases (`make soak` sets it).

use crate::support::*;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn load_seconds() -> u64 {
    std::env::var("ASM_SCALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3)
}

/// A host process; killed when dropped.
struct HostProcess {
    child: std::sync::Mutex<Child>,
    port: u16,
}

impl HostProcess {
    fn start(database_url: &str, cluster: &[String], prefix: &str) -> HostProcess {
        let port = free_port();
        let nodes: Vec<&str> = cluster.iter().map(|n| n.trim_start_matches("redis://")).collect();
        let child = Command::new(env!("CARGO_BIN_EXE_asm"))
            .args(["serve", "--component", component().to_str().unwrap()])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("METRICS_ADDR", "off")
            .env("DATABASE_URL", database_url)
            .env("REDIS_CLUSTER_NODES", nodes.join(","))
            .env("REDIS_KEY_PREFIX", prefix)
            .env("ASM_SECRET_KEY", TEST_SECRET_KEY)
            .env("ASM_CACHE_DIR", std::env::temp_dir().join("asm-test-cache"))
            .env("ARGON2_MEMORY_KIB", "256")
            .env("ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the asm binary starts");
        HostProcess { child: std::sync::Mutex::new(child), port }
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// HAProxy in front of the hosts: round robin, health checks on /healthz, a failed connection
/// retried on another host.
struct Balancer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Balancer {
    fn start(backends: &[u16]) -> Balancer {
        let haproxy = which("haproxy").unwrap_or_else(|| {
            panic!("haproxy is not installed: apt-get install -y haproxy (make test installs it when it can)")
        });
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("asm-haproxy-"));
        std::fs::create_dir_all(&dir).unwrap();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server h{i} 127.0.0.1:{p} check inter 200ms fall 2 rise 2\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n    \
             retries 2\n    option redispatch\n    retry-on conn-failure empty-response response-timeout\n\
             frontend web\n    bind 127.0.0.1:{port}\n    default_backend hosts\n\
             backend hosts\n    balance roundrobin\n    option httpchk GET /healthz\n    \
             http-request disable-l7-retry unless METH_GET\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(haproxy)
            .args(["-f", path.to_str().unwrap(), "-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        Balancer { child, port, dir }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
}

async fn wait_until_healthy(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "nothing healthy on port {port} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three hosts and the balancer, on one database and one cluster.
struct Deployment {
    hosts: Vec<HostProcess>,
    balancer: Balancer,
    client: reqwest::Client,
}

impl Deployment {
    async fn start(cluster: &[String]) -> Deployment {
        let prefix = format!("{}:", unique("asm-scale-"));
        let database = database_url();
        let hosts: Vec<HostProcess> = (0..3).map(|_| HostProcess::start(&database, cluster, &prefix)).collect();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        for h in &hosts {
            wait_until_healthy(&client, h.port).await;
        }
        let balancer = Balancer::start(&hosts.iter().map(|h| h.port).collect::<Vec<_>>());
        wait_until_healthy(&client, balancer.port).await;
        // Until every backend has passed its checks, HAProxy sends everything to the first.
        tokio::time::sleep(Duration::from_millis(600)).await;
        Deployment { hosts, balancer, client }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.balancer.port)
    }

    fn host_url(&self, i: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.hosts[i].port)
    }

    async fn register(&self) -> (String, String) {
        let email = format!("{}@example.com", unique("scale"));
        let body = serde_json::json!({
            "email": email, "username": unique("s")[..20].to_string(),
            "password": "correct horse battery", "full_name": "Scale"
        });
        let r = self.client.post(self.url("/auth/register")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        (email, "correct horse battery".into())
    }

    async fn login(&self, email: &str, password: &str) -> (u16, Option<String>) {
        let body = serde_json::json!({ "email": email, "password": password });
        let r = self.client.post(self.url("/auth/login")).json(&body).send().await.unwrap();
        let token = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.strip_prefix("session_token=")?.split(';').next().map(str::to_string))
            .next();
        (r.status().as_u16(), token)
    }

    async fn me(&self, url: String, token: &str) -> u16 {
        match self.client.get(url).bearer_auth(token).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_lockout_and_revocation_hold_across_hosts_behind_haproxy() {
    let d = Deployment::start(&redis_cluster_nodes()).await;
    let (email, password) = d.register().await;
    let (status, token) = d.login(&email, &password).await;
    assert_eq!(status, 200);
    let token = token.unwrap();
    // The session works on every host, directly and through the balancer.
    for i in 0..3 {
        assert_eq!(d.me(d.host_url(i, "/auth/user/me"), &token).await, 200, "host {i}");
    }
    for _ in 0..6 {
        assert_eq!(d.me(d.url("/auth/user/me"), &token).await, 200);
    }

    // Failures counted on whichever host answered lock the email out on all of them.
    let (victim, _) = d.register().await;
    for _ in 0..5 {
        assert_eq!(d.login(&victim, "wrong password!!").await.0, 401);
    }
    for i in 0..3 {
        let body = serde_json::json!({ "email": victim, "password": "correct horse battery" });
        let r = d.client.post(d.host_url(i, "/auth/login")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 429, "host {i} knows of the failures counted elsewhere");
    }

    // A logout on one host ends the session on all of them at once.
    let r = d.client.post(d.host_url(1, "/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for i in 0..3 {
        assert_eq!(d.me(d.host_url(i, "/auth/user/me"), &token).await, 401, "host {i}");
    }
}

/// What a load phase got: 200s, 503s, and anything else (other statuses, broken connections).
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    /// The statuses counted in `other` (0 for a broken connection), for the failure message.
    others: std::sync::Mutex<Vec<u16>>,
}

impl Tally {
    fn count(&self, status: u16) {
        match status {
            200 => self.ok.fetch_add(1, Ordering::Relaxed),
            503 => self.unavailable.fetch_add(1, Ordering::Relaxed),
            other => {
                self.others.lock().unwrap().push(other);
                self.other.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Everything but 200s.
    fn failed(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed) + self.other.load(Ordering::Relaxed)
    }
}

/// Requests kept in flight by `workers` loops until `stop`, tallied.
fn spawn_load(
    d: &Arc<Deployment>,
    token: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Tally>, Vec<tokio::task::JoinHandle<()>>) {
    let tally = Arc::new(Tally::default());
    let tasks = (0..workers)
        .map(|_| {
            let (d, token, stop, tally) = (d.clone(), token.to_string(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    tally.count(d.me(d.url("/auth/user/me"), &token).await);
                }
            })
        })
        .collect();
    (tally, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_under_load_costs_only_the_requests_it_held() {
    let d = Deployment::start(&redis_cluster_nodes()).await;
    let (email, password) = d.register().await;
    let token = d.login(&email, &password).await.1.unwrap();
    let d = Arc::new(d);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = 8;
    let (tally, tasks) = spawn_load(&d, &token, workers, &stop);
    let phase = Duration::from_secs(load_seconds());
    tokio::time::sleep(phase / 2).await;
    let before_kill = (tally.ok(), tally.failed());
    d.hosts[1].kill();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let (ok, failed) = (tally.ok(), tally.failed());
    eprintln!(
        "host killed under load: {ok} answered, {failed} failed ({} before the kill), {workers} requests at most in flight",
        before_kill.1
    );
    assert_eq!(before_kill.1, 0, "no failure before the kill");
    assert!(failed <= workers as u64, "only requests the killed host held may fail: {failed} failed");
    assert!(ok > before_kill.0 + 20, "the two others kept answering: {ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_master_killed_under_load_fails_over_and_the_service_recovers() {
    // A cluster of its own: killing a master must not disturb the tests sharing the other.
    let base = 7311;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh");
    let run = |mode: &str| {
        let out = Command::new("bash").arg(&script).arg(mode).env("REDIS_CLUSTER_BASE_PORT", base.to_string()).output();
        let out = out.expect("the cluster script runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    struct Stop<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Stop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let nodes: Vec<String> = run("start").split(',').map(|n| format!("redis://{n}")).collect();
    let _stop = Stop(|| {
        let _ = Command::new("bash").arg(&script).arg("stop").env("REDIS_CLUSTER_BASE_PORT", base.to_string()).output();
    });

    let d = Arc::new(Deployment::start(&nodes).await);
    // Users whose sessions land on every master.
    let mut tokens = Vec::new();
    let mut first = None;
    for _ in 0..12 {
        let (email, password) = d.register().await;
        tokens.push(d.login(&email, &password).await.1.unwrap());
        first.get_or_insert((email, password));
    }
    let first = first.unwrap();
    // The master holding the first user's sessions, found by asking the cluster for its slot.
    let probe = redis::Client::open(nodes[0].as_str()).unwrap();
    let mut conn = probe.get_multiplexed_async_connection().await.unwrap();
    let route = asm_guest::token::SessionToken::parse(&tokens[0]).unwrap().hash().route().unwrap().to_string();
    let slot: i64 =
        redis::cmd("CLUSTER").arg("KEYSLOT").arg(format!("{{{route}}}")).query_async(&mut conn).await.unwrap();
    let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn).await.unwrap();
    let master_port = master_of(&slots, slot).expect("a master serves every slot");

    // A second session of the first user (the same slot), ended just before the kill: a
    // revocation the service acknowledged must outlive the master that took it.
    let (email, password) = first;
    let revoked = d.login(&email, &password).await.1.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tally, tasks) = spawn_load(&d, &tokens[0], 4, &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = d.client.post(d.url("/auth/logout")).bearer_auth(&revoked).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let killed_at = Instant::now();
    let _ = Command::new("redis-cli").args(["-p", &master_port.to_string(), "shutdown", "nosave"]).output();
    // Recovered: the first user's session answers again, through the balancer.
    let mut recovered = None;
    while killed_at.elapsed() < Duration::from_secs(30) {
        if d.me(d.url("/auth/user/me"), &tokens[0]).await == 200 && tally.failed() > 0 {
            recovered = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(load_seconds())).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let lost = {
        let mut lost = 0;
        for t in &tokens {
            if d.me(d.url("/auth/user/me"), t).await != 200 {
                lost += 1;
            }
        }
        lost
    };
    let (ok, failed) = (tally.ok(), tally.failed());
    let recovered = recovered.expect("the service answered again within 30 s of the master's death");
    eprintln!(
        "redis master killed under load: recovered in {} ms; {failed} requests failed meanwhile, {ok} answered; \
         {lost} of {} sessions lost",
        recovered.as_millis(),
        tokens.len()
    );
    assert!(recovered < Duration::from_secs(15), "recovery took {recovered:?}");
    assert_eq!(lost, 0, "sessions written before the kill survive the failover (replication had seconds)");
    let others = tally.others.lock().unwrap().clone();
    assert!(others.is_empty(), "a failover answers 200 or 503, nothing else: {others:?}");
    assert_eq!(d.me(d.url("/auth/user/me"), &revoked).await, 401, "a session ended before the kill stays ended");
    // Still serving once recovered: a new login on the promoted replica.
    let (email, password) = d.register().await;
    assert_eq!(d.login(&email, &password).await.0, 200);
}

/// The port of the master serving `slot`, from a `CLUSTER SLOTS` reply.
fn master_of(slots: &redis::Value, slot: i64) -> Option<i64> {
    let redis::Value::Array(ranges) = slots else { return None };
    ranges.iter().find_map(|range| {
        let redis::Value::Array(parts) = range else { return None };
        let (redis::Value::Int(lo), redis::Value::Int(hi), redis::Value::Array(master)) =
            (parts.first()?, parts.get(1)?, parts.get(2)?)
        else {
            return None;
        };
        if !(*lo..=*hi).contains(&slot) {
            return None;
        }
        match master.get(1)? {
            redis::Value::Int(port) => Some(*port),
            _ => None,
        }
    })
}
