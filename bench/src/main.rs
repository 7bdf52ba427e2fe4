//! `asm-bench`: benchmarks the release host over HTTP against real PostgreSQL and Redis.
//!
//! `make bench` builds the host and the component and runs this, writing
//! `docs/BENCHMARKS.md` and `docs/benchmarks.png`; `make bench-smoke` runs every phase for a
//! few seconds and writes the report to a temporary file (for CI: it checks that everything
//! works, not how fast). What a run does:
//! 1. creates a fresh database (`asm migrate up`) and a fresh Redis key prefix;
//! 2. times the password hash in this process, and cold starts of the host ([`host`]);
//! 3. starts one server per engine (the wasm component, and `--engine native` when the host
//!    has it) on the same stores and seeds users and sessions over HTTP ([`seed`]);
//! 4. drives each route under each engine from its own load generator ([`load`]);
//! 5. grows the sessions in Redis with pipelined writes and measures again;
//! 6. drops the database and deletes the keys, then writes the report ([`report`], [`chart`]).

mod chart;
mod host;
mod load;
mod report;
mod seed;

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use clap::Parser;
use host::{Engine, Host, HostConfig};
use load::{MakeRequest, Plan};
use report::{ColdStarts, Measured, Report, Section};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "asm-bench", about = "Benchmarks the asm host (component and native engines) over HTTP")]
struct Args {
    /// Measured time per run (default 10s; 2s with --smoke).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Warm-up before each measured window (default 2s; 500ms with --smoke).
    #[arg(long, value_parser = humantime::parse_duration)]
    warmup: Option<Duration>,
    /// Connections kept busy at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// A few seconds per run, at most 1,000 sessions, no chart; the report goes to a
    /// temporary file unless --out is given. Checks that everything works, not timings.
    #[arg(long)]
    smoke: bool,
    /// The release host.
    #[arg(long, default_value = "target/release/asm")]
    host: PathBuf,
    /// The native baseline's server (built with the benchmark: `cargo build --release -p asm-bench`).
    #[arg(long, default_value = "target/release/asm-native")]
    native_host: PathBuf,
    /// The component it serves.
    #[arg(long, default_value = "target/wasm32-wasip2/wasm/asm_guest.wasm")]
    component: PathBuf,
    /// PostgreSQL server URL without a database; the run creates and drops its own.
    #[arg(long, env = "BENCH_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Redis `host:port`; the run writes under a fresh key prefix and deletes it.
    #[arg(long, env = "BENCH_REDIS_ADDR", default_value = "127.0.0.1:6379")]
    redis_addr: String,
    /// Where the Markdown report goes (default docs/BENCHMARKS.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the chart goes (default docs/benchmarks.png; none with --smoke).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// A Spin CLI: adds a row per route for the component under `spin up` (spin.toml, with
    /// the store adapter built by `make spin-build`). `make bench` passes the one it finds.
    #[arg(long)]
    spin: Option<PathBuf>,
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    spin_manifest: PathBuf,
    /// Also measure the peer, Better Auth on Node (`make bench-peers` installs it first).
    #[arg(long)]
    peers: bool,
    /// The peer's directory (its package.json and node_modules).
    #[arg(long, default_value = "bench/peers/better-auth")]
    peer_dir: PathBuf,
    /// Only the login storm (quick: compare builds); the report goes to a temporary file
    /// unless --out is given, and has no chart.
    #[arg(long)]
    storm_only: bool,
    /// The TrueType font of the chart's text (Debian: fonts-dejavu-core).
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

/// What a run measures, resolved from the arguments.
struct Settings {
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    smoke: bool,
    /// Users who each hold a session for /auth/user/me and log in for /auth/login: one per
    /// connection, since logins in flight for one email count toward its lock-out.
    me_users: usize,
    /// Live sessions in Redis for the /auth/user/me scale runs.
    me_scale: Vec<u64>,
    cold_empty: usize,
    cold_warm: usize,
    hash_samples: usize,
    storm_only: bool,
}

impl Settings {
    fn from(args: &Args) -> Settings {
        let smoke = args.smoke;
        Settings {
            concurrency: args.concurrency.max(1),
            warmup: args.warmup.unwrap_or(if smoke { Duration::from_millis(500) } else { Duration::from_secs(2) }),
            duration: args.duration.unwrap_or(if smoke { Duration::from_secs(2) } else { Duration::from_secs(10) }),
            smoke,
            me_users: args.concurrency.max(1),
            me_scale: if smoke { vec![1_000] } else { vec![1_000, 100_000, 1_000_000] },
            cold_empty: if smoke { 1 } else { 2 },
            cold_warm: if smoke { 2 } else { 5 },
            hash_samples: if smoke { 1 } else { 5 },
            storm_only: args.storm_only,
        }
    }

    fn plan(&self, concurrency: usize, expect: u16) -> Plan {
        Plan {
            concurrency,
            warmup: self.warmup,
            duration: self.duration,
            expect: hyper::StatusCode::from_u16(expect).expect("a valid status"),
            refused: None,
        }
    }
}

/// The routes of the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    AccountPage,
    Me,
    MeUnknownToken,
    Sessions,
    Login,
    Register,
}

impl Route {
    pub const ALL: [Route; 7] = [
        Route::Healthz,
        Route::AccountPage,
        Route::Me,
        Route::MeUnknownToken,
        Route::Sessions,
        Route::Login,
        Route::Register,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Route::Healthz => "GET /healthz",
            Route::AccountPage => "GET /account (the page's HTML)",
            Route::Me => "GET /auth/user/me",
            Route::MeUnknownToken => "GET /auth/user/me, unknown token (401)",
            Route::Sessions => "GET /auth/user/sessions (10 sessions)",
            Route::Login => "POST /auth/login (hash)",
            Route::Register => "POST /auth/register (hash)",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Route::Healthz => "healthz",
            Route::AccountPage => "page",
            Route::Me => "me",
            Route::MeUnknownToken => "me 401",
            Route::Sessions => "sessions",
            Route::Login => "login",
            Route::Register => "register",
        }
    }

    fn expect(self) -> u16 {
        match self {
            Route::MeUnknownToken => 401,
            Route::Register => 201,
            _ => 200,
        }
    }

    /// The status a route answers under an engine: the peer answers a session check without
    /// a session with 200 and a `null` body.
    fn expect_of(self, engine: Engine) -> u16 {
        match (self, engine) {
            (Route::MeUnknownToken, Engine::BetterAuth) => 200,
            _ => self.expect(),
        }
    }
}

/// The users and tokens the routes use, made over HTTP before any measurement.
struct Fixtures {
    /// Email prefix unique to this run.
    tag: String,
    me_emails: Arc<Vec<String>>,
    me_tokens: Arc<Vec<String>>,
    /// Tokens of users holding 1, 10 and 100 sessions.
    sessions_tokens: Vec<(usize, String)>,
    /// A stored session, the model of every session written straight into Redis.
    template: serde_json::Value,
    /// Sessions under the run's prefix that are live (logins and direct writes).
    live_sessions: u64,
    /// The peer's users: (email, session cookie pair), one per connection.
    peer_cookies: Arc<Vec<(String, String)>>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match bench(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let settings = Settings::from(&args);
    let bin = existing(&args.host, "the release host is not built: run `make build`")?;
    let component = existing(&args.component, "the component is not built: run `make build`")?;
    let partial = settings.smoke || settings.storm_only;
    let out = match (&args.out, partial) {
        (Some(p), _) => p.clone(),
        (None, false) => PathBuf::from("docs/BENCHMARKS.md"),
        (None, true) => std::env::temp_dir().join(format!("asm-bench-partial-{}.md", std::process::id())),
    };
    let chart_path = args.chart.clone().or_else(|| (!partial).then(|| PathBuf::from("docs/benchmarks.png")));
    let font = match &chart_path {
        Some(_) => Some(std::fs::read(&args.font).with_context(|| {
            format!("reading the chart font {} (apt-get install fonts-dejavu-core)", args.font.display())
        })?),
        None => None,
    };

    let postgres_version = seed::postgres_version(&args.postgres).await?;
    let mut redis = seed::redis(&args.redis_addr).await?;
    let redis_version = seed::redis_version(&mut redis).await?;

    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let db_name = format!("asm_bench_{stamp}");
    let prefix = format!("asm-bench-{stamp}:");
    let workdir = std::env::temp_dir().join(format!("asm-bench-{stamp}"));
    std::fs::create_dir_all(&workdir)?;
    let spin = match &args.spin {
        Some(bin) => Some((
            existing(bin, "no Spin CLI there (scripts/find-spin.sh finds one)")?,
            existing(&args.spin_manifest, "no Spin manifest there")?,
        )),
        None => None,
    };
    let peer_db = format!("{db_name}_peer");
    let peer = if args.peers {
        let dir = existing(&args.peer_dir, "no peer there")?;
        ensure!(
            dir.join("node_modules").exists(),
            "the peer is not installed: run `make bench-peers` (or `npm ci` in {})",
            dir.display()
        );
        seed::create_database(&args.postgres, &peer_db).await?;
        Some((dir, format!("{}/{peer_db}", args.postgres)))
    } else {
        None
    };
    let cfg = HostConfig {
        bin,
        // Absolute: servers start in the work directory, where a relative path means nothing.
        native_bin: args.native_host.canonicalize().unwrap_or_else(|_| args.native_host.clone()),
        component,
        database_url: format!("{}/{db_name}", args.postgres),
        redis_addr: args.redis_addr.clone(),
        redis_prefix: prefix.clone(),
        workdir: workdir.clone(),
        spin,
        peer,
    };
    println!("database {db_name}, Redis prefix {prefix}, host logs in {}", workdir.display());

    let mut report = Report::new(&settings_summary(&settings), settings.smoke, postgres_version, redis_version);
    report.me_users = settings.me_users;
    report.load_at_start = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let busy: f64 = report.load_at_start.split(' ').next().and_then(|l| l.parse().ok()).unwrap_or(0.0);
    if busy > 0.5 {
        println!(
            "note: load average {} at start: something else is running, and the figures will show it",
            report.load_at_start
        );
    }
    let measured = match host::migrate_up(&cfg) {
        Ok(()) => measure(&settings, &cfg, &redis, stamp, &mut report).await,
        Err(e) => Err(e),
    };

    // Clean up whatever happened above.
    let t = Instant::now();
    match seed::delete_keys(&mut redis, &prefix).await {
        Ok(n) => println!("deleted {n} Redis keys under {prefix} in {:.1} s", t.elapsed().as_secs_f64()),
        Err(e) => eprintln!("warning: could not delete the Redis keys under {prefix}: {e:#}"),
    }
    for name in [&db_name, &peer_db] {
        match seed::drop_database(&args.postgres, name).await {
            Ok(()) => println!("dropped database {name}"),
            Err(e) => eprintln!("warning: could not drop database {name}: {e:#}"),
        }
    }
    measured?;

    report.total = started.elapsed();
    report.command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut chart_failed = false;
    if let (Some(path), Some(font)) = (&chart_path, font) {
        match chart::draw(&report, path, font) {
            Ok(()) => report.chart = Some(path.clone()),
            Err(e) => {
                eprintln!("error: drawing {}: {e:#}", path.display());
                chart_failed = true;
            }
        }
    }
    std::fs::write(&out, report.markdown(&out))?;
    println!("wrote {}", out.display());
    if let Some(p) = &report.chart {
        println!("wrote {}", p.display());
    }
    println!("total {:.0} s", report.total.as_secs_f64());

    let failed = report.failures();
    if chart_failed {
        return Ok(ExitCode::FAILURE);
    }
    if !failed.is_empty() {
        eprintln!("runs with errors or no successful request (host logs kept in {}):", workdir.display());
        for f in &failed {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let _ = std::fs::remove_dir_all(&workdir);
    Ok(ExitCode::SUCCESS)
}

fn existing(path: &Path, hint: &str) -> anyhow::Result<PathBuf> {
    path.canonicalize().with_context(|| format!("{}: {hint}", path.display()))
}

fn settings_summary(s: &Settings) -> String {
    format!(
        "{} connections, {} s warm-up, {} s measured per run",
        s.concurrency,
        s.warmup.as_secs_f64(),
        s.duration.as_secs_f64()
    )
}

/// Every measurement, in an order that keeps the machine quiet for the delicate ones: the hash
/// and cold starts first, with no server running.
async fn measure(
    s: &Settings,
    cfg: &HostConfig,
    redis: &redis::aio::MultiplexedConnection,
    stamp: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let native = cfg.native_bin.exists();
    report.native_available = native;
    if !native {
        println!("note: no native baseline at {}; measuring the component only", cfg.native_bin.display());
    }
    let mut engines = vec![Engine::Component];
    if native {
        engines.push(Engine::Native);
    }
    if cfg.spin.is_some() {
        engines.push(Engine::Spin);
    }
    report.engines = engines.clone();
    if cfg.peer.is_some() {
        report.engines.push(Engine::BetterAuth);
    }

    if s.storm_only {
        let cache = cfg.workdir.join("cache");
        std::fs::create_dir_all(&cache)?;
        let t = Instant::now();
        let mut server = Host::spawn(cfg, Engine::Component, &cache, "storm")?;
        server.wait_ready(t, Duration::from_secs(300)).await?;
        let fx = fixtures(s, cfg, &server, redis, stamp).await?;
        storm(s, &fx, &server, report).await?;
        return server.stop();
    }
    report.hash_native = hash_native(s.hash_samples)?;
    println!(
        "password verify, {}, in this process: {:.0} ms",
        host::hashing_label(),
        report::median(&report.hash_native).as_secs_f64() * 1e3
    );

    report.cold = cold_starts(s, cfg, native).await?;
    let warm_cache = report.cold.warm_dir.clone();

    let mut servers = Vec::new();
    for &engine in &engines {
        let t = Instant::now();
        let mut h = Host::spawn(cfg, engine, &warm_cache, "main")?;
        h.wait_ready(t, Duration::from_secs(300)).await?;
        report.startup_rss.push((engine, h.peak_rss_kib().ok()));
        servers.push(h);
    }
    let mut fx = fixtures(s, cfg, &servers[0], redis, stamp).await?;
    if cfg.peer.is_some() {
        let t = Instant::now();
        let mut peer = Host::spawn(cfg, Engine::BetterAuth, &warm_cache, "main")?;
        peer.wait_ready(t, Duration::from_secs(120)).await?;
        report.startup_rss.push((Engine::BetterAuth, peer.peak_rss_kib().ok()));
        fx.peer_cookies = Arc::new(seed::peer_users(peer.addr, &format!("{}peer", fx.tag), s.me_users).await?);
        servers.push(peer);
    }

    for route in Route::ALL {
        for server in &servers {
            let Some(make) = requests(route, &fx, server) else { continue };
            let expect = route.expect_of(server.engine);
            let mut conn = redis.clone();
            let calls_before = seed::redis_calls(&mut conn).await?;
            let outcome = load::run(server, &s.plan(s.concurrency, expect), make).await?;
            // Only this server had load: the scripts Redis ran meanwhile were its.
            let calls = seed::redis_calls(&mut conn).await?.saturating_sub(calls_before);
            let sent = outcome.total_ok + outcome.errors;
            let per_request = (route == Route::Me && sent > 0).then(|| calls as f64 / sent as f64);
            if route == Route::Login && server.engine.is_ours() {
                fx.live_sessions += outcome.total_ok;
            }
            let measured = Measured::new(route.title(), route, server.engine, outcome).with_redis_calls(per_request);
            report.push(Section::Routes, measured);
        }
    }
    // The host's two engines only from here on: the other rows are for the routes table.
    servers.retain(|h| matches!(h.engine, Engine::Component | Engine::Native));

    if let Some(server) = servers.iter().find(|h| h.engine == Engine::Component) {
        // The login runs above can make more sessions per user than the cap keeps
        // (MAX_SESSIONS_PER_USER), ending the ones /auth/user/me uses: fresh ones first.
        fx.me_tokens = Arc::new(seed::log_in(server.addr, &fx.me_emails).await?);
        fx.live_sessions += fx.me_tokens.len() as u64;
        storm(s, &fx, server, report).await?;
    }

    for server in &servers {
        let make = requests(Route::Login, &fx, server).expect("our engines log in");
        let outcome = load::run(server, &s.plan(1, 200), make).await?;
        fx.live_sessions += outcome.total_ok;
        report.push(
            Section::LoginAlone,
            Measured::new("POST /auth/login, 1 connection", Route::Login, server.engine, outcome),
        );
    }

    for (n, token) in fx.sessions_tokens.clone() {
        for server in &servers {
            let token = token.clone();
            let addr = server.addr;
            let make: MakeRequest = Arc::new(move |_, _| load::get(addr, "/auth/user/sessions", Some(&token)));
            let outcome = load::run(server, &s.plan(s.concurrency, 200), make).await?;
            let label = format!("GET /auth/user/sessions, {n} session{}", if n == 1 { "" } else { "s" });
            report.push(Section::SessionsPerUser(n), Measured::new(&label, Route::Sessions, server.engine, outcome));
        }
    }

    // The logins above made more sessions per user than the cap keeps (MAX_SESSIONS_PER_USER),
    // ending the least recently active: the sessions /auth/user/me used. Fresh ones.
    fx.me_tokens = Arc::new(seed::log_in(servers[0].addr, &fx.me_emails).await?);
    fx.live_sessions += fx.me_tokens.len() as u64;
    let mut filler_users = 0u64;
    for &target in &s.me_scale {
        let missing = target.saturating_sub(fx.live_sessions);
        let t = Instant::now();
        let first = filler_users;
        let groups = missing.div_ceil(10);
        let owners = (0..groups).map(|g| {
            let in_group = if g + 1 == groups && missing % 10 != 0 { missing % 10 } else { 10 };
            (format!("00000000-0000-4000-8000-{:012x}", first + g), in_group as usize)
        });
        let written =
            seed::write_sessions(redis, &cfg.redis_prefix, &fx.template, &format!("fill{target}"), owners).await?;
        filler_users += groups;
        fx.live_sessions += written;
        let took = t.elapsed();
        println!(
            "wrote {written} sessions into Redis in {:.1} s ({:.0}/s); {} live",
            took.as_secs_f64(),
            written as f64 / took.as_secs_f64().max(1e-9),
            fx.live_sessions
        );
        report.seeding.push((written, took));
        for server in &servers {
            let make = requests(Route::Me, &fx, server).expect("our engines check sessions");
            let outcome = load::run(server, &s.plan(s.concurrency, 200), make).await?;
            let label = format!("GET /auth/user/me, {} sessions in Redis", report::thousands(fx.live_sessions));
            report.push(Section::MeScale(fx.live_sessions), Measured::new(&label, Route::Me, server.engine, outcome));
        }
    }

    for server in servers {
        server.stop()?;
    }
    Ok(())
}

/// Connections that send the storm's logins: a botnet's credential stuffing, as many at once
/// as the session checks beside them.
const STORM_CONNECTIONS: usize = 64;

/// Session checks during a login storm: `/auth/user/me` quiet, then again while 64 connections
/// send wrong passwords for emails that are each used once, from a different address each
/// time (the host believes `X-Forwarded-For` from the load generator), so that neither the
/// per-account nor the per-address lock-out stops them: only the hashing turns stand between
/// the storm and the session checks.
async fn storm(s: &Settings, fx: &Fixtures, server: &Host, report: &mut Report) -> anyhow::Result<()> {
    let me = requests(Route::Me, fx, server).expect("our engines check sessions");
    let quiet = load::run(server, &s.plan(s.concurrency, 200), me.clone()).await?;
    report.push(Section::Storm, Measured::new(STORM_QUIET, Route::Me, server.engine, quiet));
    let (addr, tag) = (server.addr, fx.tag.clone());
    let logins: MakeRequest = Arc::new(move |n, seq| {
        let mut req = load::post_json(addr, "/auth/login", seed::wrong_login_body(&format!("{tag}storm{n}x{seq}")));
        let from = format!("10.{}.{}.{}", n % 256, (seq / 256) % 256, seq % 256);
        req.headers_mut().insert("x-forwarded-for", from.parse().expect("an address is a header value"));
        req
    });
    let mut storm_plan = s.plan(STORM_CONNECTIONS, 401);
    storm_plan.refused = Some(hyper::StatusCode::SERVICE_UNAVAILABLE);
    let me_plan = s.plan(s.concurrency, 200);
    let (during, storm) = tokio::join!(load::run(server, &me_plan, me), load::run(server, &storm_plan, logins));
    report.push(Section::Storm, Measured::new(STORM_DURING, Route::Me, server.engine, during?));
    report.push(Section::Storm, Measured::new(STORM_ITSELF, Route::Login, server.engine, storm?));
    Ok(())
}

pub const STORM_QUIET: &str = "GET /auth/user/me, quiet";
pub const STORM_DURING: &str = "GET /auth/user/me, during a login storm";
pub const STORM_ITSELF: &str = "POST /auth/login, the storm (64 connections, wrong passwords)";

/// Users and sessions for the routes: registered and logged in over HTTP, plus the extra
/// sessions of the 100-session user written straight into Redis.
async fn fixtures(
    s: &Settings,
    cfg: &HostConfig,
    server: &Host,
    redis: &redis::aio::MultiplexedConnection,
    stamp: u64,
) -> anyhow::Result<Fixtures> {
    let t = Instant::now();
    let addr = server.addr;
    let tag = format!("b{stamp}");
    let me = seed::register_users(addr, &format!("{tag}me"), s.me_users).await?;
    let me_emails: Vec<String> = me.iter().map(|u| u.email.clone()).collect();
    let me_tokens = seed::log_in(addr, &me_emails).await?;

    let owners = seed::register_users(addr, &format!("{tag}owner"), 3).await?;
    let (one, ten, hundred) = (&owners[0], &owners[1], &owners[2]);
    let one_token = seed::log_in(addr, std::slice::from_ref(&one.email)).await?.remove(0);
    let ten_tokens = seed::log_in(addr, &vec![ten.email.clone(); 10]).await?;
    let hundred_token = seed::log_in(addr, std::slice::from_ref(&hundred.email)).await?.remove(0);
    let mut conn = redis.clone();
    let template = seed::stored_session(&mut conn, &cfg.redis_prefix, &hundred_token).await?;
    ensure!(template["user_id"] == hundred.id, "the stored session names another user: {template}");
    let extra = seed::write_sessions(
        redis,
        &cfg.redis_prefix,
        &template,
        "owner100",
        std::iter::once((hundred.id.clone(), 99)),
    )
    .await?;

    let live_sessions = (me_tokens.len() + 1 + ten_tokens.len() + 1) as u64 + extra;
    println!("seeded {} users and {live_sessions} sessions in {:.1} s", me.len() + 3, t.elapsed().as_secs_f64());
    Ok(Fixtures {
        tag,
        me_emails: Arc::new(me_emails),
        me_tokens: Arc::new(me_tokens),
        sessions_tokens: vec![(1, one_token), (10, ten_tokens[9].clone()), (100, hundred_token)],
        template,
        live_sessions,
        peer_cookies: Arc::new(Vec::new()),
    })
}

/// The request maker of a route: connection `n` keeps to one user where the route needs one.
/// None for a route the peer has no counterpart of in this benchmark.
fn requests(route: Route, fx: &Fixtures, server: &Host) -> Option<MakeRequest> {
    let addr = server.addr;
    if server.engine == Engine::BetterAuth {
        let users = fx.peer_cookies.clone();
        return Some(match route {
            Route::Healthz => Arc::new(move |_, _| load::get_with_cookie(addr, "/api/auth/ok", None)),
            Route::Me => Arc::new(move |n, _| {
                load::get_with_cookie(addr, "/api/auth/get-session", Some(&users[n % users.len()].1))
            }),
            Route::MeUnknownToken => Arc::new(move |_, _| load::get_with_cookie(addr, "/api/auth/get-session", None)),
            Route::Login => Arc::new(move |n, _| {
                load::post_json(addr, "/api/auth/sign-in/email", seed::peer_login_body(&users[n % users.len()].0))
            }),
            Route::AccountPage | Route::Sessions | Route::Register => return None,
        });
    }
    Some(ours(route, fx, addr))
}

/// The request maker of a route on our engines.
fn ours(route: Route, fx: &Fixtures, addr: std::net::SocketAddr) -> MakeRequest {
    static REGISTERED: AtomicU64 = AtomicU64::new(0);
    match route {
        Route::Healthz => Arc::new(move |_, _| load::get(addr, "/healthz", None)),
        Route::AccountPage => Arc::new(move |_, _| load::get(addr, "/account", None)),
        Route::Me => {
            let tokens = fx.me_tokens.clone();
            Arc::new(move |n, _| load::get(addr, "/auth/user/me", Some(&tokens[n % tokens.len()])))
        }
        Route::MeUnknownToken => {
            // Well-formed (a routing tag and 32 bytes, 48 base64url characters) but never issued.
            let tokens: Vec<String> = (0..256)
                .map(|i| {
                    let mut bytes = vec![0x5a; asm_contract::ROUTE_BYTES];
                    bytes.extend(Sha256::digest(format!("{}-unknown-{i}", fx.tag)));
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
                })
                .collect();
            Arc::new(move |n, _| load::get(addr, "/auth/user/me", Some(&tokens[n % tokens.len()])))
        }
        Route::Sessions => {
            let token = fx.sessions_tokens[1].1.clone();
            Arc::new(move |_, _| load::get(addr, "/auth/user/sessions", Some(&token)))
        }
        Route::Login => {
            let emails = fx.me_emails.clone();
            Arc::new(move |n, _| load::post_json(addr, "/auth/login", seed::login_body(&emails[n % emails.len()])))
        }
        Route::Register => {
            let tag = fx.tag.clone();
            Arc::new(move |_, _| {
                let i = REGISTERED.fetch_add(1, Ordering::Relaxed);
                load::post_json(addr, "/auth/register", seed::register_body(&format!("{tag}new{i}@bench.example.com")))
            })
        }
    }
}

/// A password verified as the servers verify it (the component's own code, compiled natively),
/// in this process.
fn hash_native(samples: usize) -> anyhow::Result<Vec<Duration>> {
    let hash = asm_guest::password::hash(seed::PASSWORD, host::HASHING).map_err(anyhow::Error::msg)?;
    (0..samples)
        .map(|_| {
            let t = Instant::now();
            let ok = asm_guest::password::verify(seed::PASSWORD, &hash);
            let took = t.elapsed();
            if !ok {
                bail!("the password did not verify against its own hash");
            }
            Ok(took)
        })
        .collect()
}

/// Process start to the first 200 from /healthz: with an empty cache directory (the component
/// is compiled), then with the cache that start left (it is loaded), then natively.
async fn cold_starts(s: &Settings, cfg: &HostConfig, native: bool) -> anyhow::Result<ColdStarts> {
    let mut cold = ColdStarts::default();
    for i in 0..s.cold_empty {
        cold.warm_dir = cfg.workdir.join(format!("cache-{i}"));
        std::fs::create_dir_all(&cold.warm_dir)?;
        cold.empty.push(start_once(cfg, Engine::Component, &cold.warm_dir, &format!("empty-cache-{i}")).await?);
    }
    for i in 0..s.cold_warm {
        cold.warm.push(start_once(cfg, Engine::Component, &cold.warm_dir, &format!("warm-cache-{i}")).await?);
    }
    if native {
        for i in 0..s.cold_warm {
            cold.native.push(start_once(cfg, Engine::Native, &cold.warm_dir, &format!("start-{i}")).await?);
        }
    }
    cold.artifact_bytes = std::fs::read_dir(&cold.warm_dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    println!(
        "cold start: empty cache {:.0} ms, warm cache {:.1} ms (medians)",
        report::median(&cold.empty).as_secs_f64() * 1e3,
        report::median(&cold.warm).as_secs_f64() * 1e3
    );
    Ok(cold)
}

async fn start_once(cfg: &HostConfig, engine: Engine, cache: &Path, tag: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut h = Host::spawn(cfg, engine, cache, tag)?;
    let ready = h.wait_ready(t, Duration::from_secs(300)).await?;
    h.stop()?;
    Ok(ready)
}
