//! The results of a run and their Markdown report (docs/BENCHMARKS.md).

use crate::Route;
use crate::host::{self, Engine};
use crate::load::Outcome;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a measurement belongs in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Routes,
    LoginAlone,
    SessionsPerUser(usize),
    MeScale(u64),
    /// Session checks quiet and during a login storm, and the storm itself.
    Storm,
}

pub struct Measured {
    pub label: String,
    pub route: Route,
    pub engine: Engine,
    pub outcome: Outcome,
    /// Redis commands the server sent per request in the run (INFO commandstats), where counted.
    pub redis_calls_per_request: Option<f64>,
}

impl Measured {
    pub fn new(label: &str, route: Route, engine: Engine, outcome: Outcome) -> Measured {
        Measured { label: label.to_string(), route, engine, outcome, redis_calls_per_request: None }
    }

    pub fn with_redis_calls(mut self, per_request: Option<f64>) -> Measured {
        self.redis_calls_per_request = per_request;
        self
    }
}

#[derive(Default)]
pub struct ColdStarts {
    pub empty: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub native: Vec<Duration>,
    /// Size of the compiled component in the cache.
    pub artifact_bytes: u64,
    /// The cache directory the empty-cache starts filled.
    pub warm_dir: PathBuf,
}

pub struct Report {
    pub smoke: bool,
    pub settings: String,
    pub command: String,
    pub total: Duration,
    pub native_available: bool,
    pub postgres_version: String,
    pub redis_version: String,
    pub measured: Vec<(Section, Measured)>,
    pub hash_native: Vec<Duration>,
    pub cold: ColdStarts,
    /// (sessions written, time taken) per scale step.
    pub seeding: Vec<(u64, Duration)>,
    pub chart: Option<PathBuf>,
    /// Users whose sessions /auth/user/me rotates over.
    pub me_users: usize,
    /// VmHWM of each server once it answers, before any load.
    pub startup_rss: Vec<(Engine, Option<u64>)>,
    /// /proc/loadavg (1, 5 and 15 minutes) when the run began.
    pub load_at_start: String,
    /// The engines measured, in order.
    pub engines: Vec<Engine>,
}

impl Report {
    pub fn new(settings: &str, smoke: bool, postgres_version: String, redis_version: String) -> Report {
        Report {
            smoke,
            settings: settings.to_string(),
            command: String::new(),
            total: Duration::ZERO,
            native_available: false,
            postgres_version,
            redis_version,
            measured: Vec::new(),
            hash_native: Vec::new(),
            cold: ColdStarts::default(),
            seeding: Vec::new(),
            chart: None,
            me_users: 0,
            startup_rss: Vec::new(),
            load_at_start: String::new(),
            engines: Vec::new(),
        }
    }

    /// Records a measurement and prints it.
    pub fn push(&mut self, section: Section, m: Measured) {
        let o = &m.outcome;
        let cpu = o.server_cpu_per_request_us();
        println!(
            "{:<9} {:<48} {:>9} req/s  p50 {:>9}  p99 {:>9}  server CPU {:>6} + {:>5} µs/req{}",
            m.engine.to_string(),
            m.label,
            rate(o.requests_per_second()),
            ms(o.quantile(0.5)),
            ms(o.quantile(0.99)),
            us(cpu.user_us),
            us(cpu.sys_us),
            if o.errors > 0 {
                format!("  {} errors, first: {}", o.errors, o.first_error.as_deref().unwrap_or(""))
            } else {
                String::new()
            }
        );
        self.measured.push((section, m));
    }

    pub fn find(&self, section: Section, route: Route, engine: Engine) -> Option<&Outcome> {
        self.measured
            .iter()
            .find(|(s, m)| *s == section && m.route == route && m.engine == engine)
            .map(|(_, m)| &m.outcome)
    }

    /// Runs that had errors or no successful request.
    pub fn failures(&self) -> Vec<String> {
        self.measured
            .iter()
            .filter(|(_, m)| m.outcome.errors > 0 || m.outcome.completed == 0)
            .map(|(_, m)| {
                format!(
                    "{} ({}): {} in the window, {} errors; first: {}",
                    m.label,
                    m.engine,
                    m.outcome.completed,
                    m.outcome.errors,
                    m.outcome.first_error.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    pub fn markdown(&self, out: &Path) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(w, "# Benchmarks\n");
        if self.smoke {
            let _ = writeln!(
                w,
                "> **Smoke run** (`make bench-smoke`): a few seconds per run to check that every phase works. Its timings mean nothing.\n"
            );
        }
        let _ = writeln!(
            w,
            "The release host (`target/release/asm serve`) against a fresh PostgreSQL database and a fresh Redis key \
             prefix, driven over HTTP by `asm-bench` (the `bench/` crate). Reproduce with **`make bench`**: it builds \
             the host and the component (`make build`), then runs the benchmark, which rewrites this file and \
             `docs/benchmarks.png`. This run: `{}` ({}), {:.1} minutes in all.\n",
            self.command,
            self.settings,
            self.total.as_secs_f64() / 60.0
        );
        self.machine(w);
        if let Some(cores) = self.outside_cores()
            && cores > 0.25
        {
            let _ = writeln!(
                w,
                "> **This run shared the machine.** While `/healthz` was measured (it touches no store), about {cores:.1} \
                 of the cores were busy outside the host and the load generator (column \"rest of machine\"; the load \
                 average at start is above). Throughput and latency are lower than a quiet machine gives; CPU per \
                 request and the component/native ratios (both engines ran under the same load, one after the other) \
                 hold better. The hashing bound assumes every core is free for hashing, so the login target reads low.\n"
            );
        }
        self.targets(w);
        self.routes(w);
        self.ratios(w);
        self.peers(w);
        self.hashing(w);
        self.cold_starts(w);
        self.storm(w);
        self.scale(w);
        if let Some(chart) = &self.chart {
            let link = if chart.parent() == out.parent() {
                chart.file_name().map(PathBuf::from).unwrap_or_default()
            } else {
                chart.clone()
            };
            let _ = writeln!(w, "## Chart\n");
            let _ = writeln!(
                w,
                "Throughput (left) and p99 latency (right) per route, component beside native, both on log scales.\n\n![throughput and p99 per route]({})\n",
                link.display()
            );
        }
        self.method(w);
        md
    }

    fn machine(&self, w: &mut String) {
        let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
            .unwrap_or_else(|| "unknown".into());
        let mem_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0 / 1024.0)
            .unwrap_or(0.0);
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        let _ = writeln!(w, "## Machine\n");
        let _ = writeln!(w, "| | |\n|---|---|");
        let _ = writeln!(w, "| CPU | {cpu}, {nproc} cores (`nproc`) |");
        let _ = writeln!(w, "| memory | {mem_gib:.0} GiB |");
        let _ = writeln!(w, "| kernel | Linux {kernel} |");
        let _ = writeln!(
            w,
            "| stores | PostgreSQL {}, Redis {} (local, no persistence tuning) |",
            self.postgres_version, self.redis_version
        );
        let _ = writeln!(w, "| code | {} |", git_describe());
        let _ = writeln!(w, "| load average at start | {} (1, 5, 15 minutes) |", self.load_at_start);
        let _ = writeln!(
            w,
            "\n**The load generator shares the machine's {nproc} cores** with the host, PostgreSQL and Redis (it is one \
             thread; its own CPU per request is in the tables). Absolute figures are this small VM's; the ratios between \
             engines, routes and sizes are what carries over.\n"
        );
    }

    fn targets(&self, w: &mut String) {
        let c = Engine::Component;
        let n = Engine::Native;
        let r = Section::Routes;
        let _ = writeln!(w, "## Targets\n");
        let _ = writeln!(w, "| target | measured | |\n|---|---|---|");
        let verdict = |ok: Option<bool>| match ok {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "n/a",
        };
        let cpu = |o: &Outcome| {
            let c = o.server_cpu_per_request_us();
            c.user_us + c.sys_us
        };
        if let (Some(h), Some(hn)) = (self.find(r, Route::Healthz, c), self.find(r, Route::Healthz, n)) {
            let x = cpu(h) / cpu(hn);
            let _ = writeln!(
                w,
                "| `/healthz` through the component ≤ 1.5× the native engine's server CPU per request | {} vs {} µs = {x:.2}× | {} |",
                us(cpu(h)),
                us(cpu(hn)),
                verdict(Some(x <= 1.5))
            );
        }
        let me = (self.find(r, Route::Me, c), self.find(r, Route::Me, n));
        let (tp, p99) = match me {
            (Some(mc), Some(mn)) => {
                let tp = mc.requests_per_second() / mn.requests_per_second();
                let p99 = mc.quantile(0.99).as_secs_f64() / mn.quantile(0.99).as_secs_f64();
                (Some(tp), Some(p99))
            }
            _ => (None, None),
        };
        let _ = writeln!(
            w,
            "| `/auth/user/me` through the component ≥ 80% of the native engine's throughput | {} | {} |",
            tp.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "no native engine in this run".into()),
            verdict(tp.map(|x| x >= 0.8))
        );
        let _ = writeln!(
            w,
            "| `/auth/user/me` p99 ≤ 2× native | {} | {} |",
            p99.map(|x| format!("{x:.2}×")).unwrap_or_else(|| "no native engine in this run".into()),
            verdict(p99.map(|x| x <= 2.0))
        );
        for engine in [c, n] {
            if let Some(calls) = self.redis_calls(r, Route::Me, engine) {
                let _ = writeln!(
                    w,
                    "| `/auth/user/me` ({engine}) in one Redis round trip | {calls:.2} Redis scripts per request | {} |",
                    verdict(Some(calls < 1.05))
                );
            }
        }
        if let (Some(lc), Some(ln)) = (self.find(r, Route::Login, c), self.find(r, Route::Login, n)) {
            let share = lc.requests_per_second() / ln.requests_per_second();
            let _ = writeln!(
                w,
                "| login through the component ≥ 80% of native login throughput, with the same hash ({}) | {} vs {} req/s = {:.0}% | {} |",
                crate::host::hashing_label(),
                rate(lc.requests_per_second()),
                rate(ln.requests_per_second()),
                share * 100.0,
                verdict(Some(share >= 0.8))
            );
        }
        if let (Some(me), Some(hz)) =
            (self.find(r, Route::Me, Engine::Spin), self.find(r, Route::Healthz, Engine::Spin))
        {
            let x = me.requests_per_second() / hz.requests_per_second();
            let _ = writeln!(
                w,
                "| on Spin, `/auth/user/me` ≥ 50% of Spin's own `/healthz` throughput | {} vs {} req/s = {:.0}% | {} |",
                rate(me.requests_per_second()),
                rate(hz.requests_per_second()),
                x * 100.0,
                verdict(Some(x >= 0.5))
            );
        }
        if let Some((quiet, during, _)) = self.storm_runs() {
            let tp = during.requests_per_second() / quiet.requests_per_second();
            let p99 = during.quantile(0.99).as_secs_f64() / quiet.quantile(0.99).as_secs_f64();
            let _ = writeln!(
                w,
                "| during a login storm, `/auth/user/me` keeps ≥ 0.5× its quiet throughput | {tp:.2}× ({} vs {} req/s) | {} |",
                rate(during.requests_per_second()),
                rate(quiet.requests_per_second()),
                verdict(Some(tp >= 0.5))
            );
            let _ = writeln!(
                w,
                "| during a login storm, `/auth/user/me` p99 ≤ 3× quiet | {p99:.2}× ({} vs {}) | {} |",
                ms(during.quantile(0.99)),
                ms(quiet.quantile(0.99)),
                verdict(Some(p99 <= 3.0))
            );
        }
        if !self.cold.warm.is_empty() {
            let m = median(&self.cold.warm);
            let _ = writeln!(
                w,
                "| cold start with the compiled-component cache < 100 ms | {} (median of {}) | {} |",
                ms(m),
                self.cold.warm.len(),
                verdict(Some(m < Duration::from_millis(100)))
            );
        }
        for engine in [c, n] {
            if let Some((lo, hi, tp, p99)) = self.flatness(engine) {
                let _ = writeln!(
                    w,
                    "| `/auth/user/me` ({engine}) flat from {} to {} sessions (throughput ≥ 0.8×, p99 ≤ 1.5×) | throughput ×{tp:.2}, p99 ×{p99:.2} | {} |",
                    thousands(lo),
                    thousands(hi),
                    verdict(Some(tp >= 0.8 && p99 <= 1.5))
                );
            }
        }
        if self.engines.contains(&Engine::BetterAuth) {
            for route in [Route::Me, Route::MeUnknownToken, Route::Login, Route::Healthz] {
                let (Some(ours), Some(peer)) = (self.find(r, route, c), self.find(r, route, Engine::BetterAuth)) else {
                    continue;
                };
                let x = ours.requests_per_second() / peer.requests_per_second();
                let need = match route {
                    Route::Me => 3.0,
                    Route::Login => 1.5,
                    _ => 1.0,
                };
                let _ = writeln!(
                    w,
                    "| {}: component ahead of Better Auth{} | {x:.2}× its throughput | {} |",
                    route.title(),
                    if need > 1.0 { format!(" by ≥ {need}×") } else { String::new() },
                    verdict(Some(x >= need))
                );
            }
        }
        let _ = writeln!(w);
    }

    /// Redis commands per request of a run, where counted.
    fn redis_calls(&self, section: Section, route: Route, engine: Engine) -> Option<f64> {
        self.measured
            .iter()
            .find(|(s, m)| *s == section && m.route == route && m.engine == engine)
            .and_then(|(_, m)| m.redis_calls_per_request)
    }

    /// /auth/user/me at the fewest and the most sessions: (fewest, most, throughput ratio, p99 ratio).
    fn flatness(&self, engine: Engine) -> Option<(u64, u64, f64, f64)> {
        let runs: Vec<(u64, &Outcome)> = self
            .measured
            .iter()
            .filter_map(|(s, m)| match s {
                Section::MeScale(n) if m.engine == engine => Some((*n, &m.outcome)),
                _ => None,
            })
            .collect();
        let ((lo, first), (hi, last)) = (runs.first()?, runs.last()?);
        (lo != hi).then(|| {
            (
                *lo,
                *hi,
                last.requests_per_second() / first.requests_per_second(),
                last.quantile(0.99).as_secs_f64() / first.quantile(0.99).as_secs_f64(),
            )
        })
    }

    /// The component against Spin and against the peer, route by route.
    fn peers(&self, w: &mut String) {
        let others: Vec<Engine> =
            [Engine::Spin, Engine::BetterAuth].into_iter().filter(|e| self.engines.contains(e)).collect();
        if others.is_empty() {
            return;
        }
        let _ = writeln!(w, "## The component beside Spin and the peer\n");
        let _ = writeln!(
            w,
            "The same routes under `spin up` (spin.toml: the same component, its stores through the Spin adapter on \
             the same PostgreSQL and Redis) and under Better Auth (`bench/peers/better-auth`: its latest 1.x on Node, \
             PostgreSQL for users and its Redis secondary storage for sessions, rate limiter off, its own routes: \
             `/api/auth/get-session` with and without a session, `/api/auth/sign-in/email`, `/api/auth/ok`). Ratios are \
             the component in our host over the other; above 1 means ours has more of it.\n"
        );
        let _ = writeln!(
            w,
            "| route | other | other's req/s | other's µs CPU/req | throughput, ours / other | CPU per request, ours / other |\n|---|---|---:|---:|---:|---:|"
        );
        for route in Route::ALL {
            let Some(ours) = self.find(Section::Routes, route, Engine::Component) else { continue };
            for &other in &others {
                let Some(o) = self.find(Section::Routes, route, other) else { continue };
                let cpu = |o: &Outcome| {
                    let c = o.server_cpu_per_request_us();
                    c.user_us + c.sys_us
                };
                let _ = writeln!(
                    w,
                    "| {} | {other} | {} | {} | {} | {} |",
                    route.title(),
                    rate(o.requests_per_second()),
                    us(cpu(o)),
                    ratio(ours.requests_per_second(), o.requests_per_second()),
                    ratio(cpu(ours), cpu(o)),
                );
            }
        }
        let _ = writeln!(
            w,
            "\nThe peer's session check without a session answers 200 with `null` (ours: 401); its login hashes with \
             scrypt (N=16384) on Node's thread pool, ours with {}. Spin's CPU is that of `spin up` and its \
             trigger process together.\n",
            host::hashing_label()
        );
    }

    fn routes(&self, w: &mut String) {
        let _ = writeln!(w, "## Routes\n");
        let _ = writeln!(
            w,
            "{}. Every route under each engine, one after the other, on the same database and Redis. Latency is \
             measured by the client, from sending the request to reading the whole answer.\n",
            self.settings
        );
        table_header(w);
        for (s, m) in &self.measured {
            if *s == Section::Routes {
                table_row(w, &m.label, m.engine, &m.outcome);
            }
        }
        let _ = writeln!(
            w,
            "\n‡ throughput from Little's law (connections / mean latency): these requests each take a password hash's time, so \
             the {} connections can finish in waves (they do under the component, whose instances share the cores \
             evenly) and a window counts a whole number of waves. Server CPU per request \
             divides the CPU used per second by that throughput.\n",
            self.measured.first().map(|(_, m)| m.outcome.concurrency).unwrap_or(0)
        );
        let startup: Vec<String> =
            self.startup_rss.iter().filter_map(|(e, kib)| Some(format!("{e} {}", mib((*kib)?)))).collect();
        if !startup.is_empty() {
            let _ = writeln!(
                w,
                "Peak RSS is each window's own (see below). From start to the first answer, before any load: {}.\n",
                startup.join(", ")
            );
        }
        if !self.native_available {
            let _ = writeln!(
                w,
                "The host in this build has no `--engine native`: only the component was measured. Once it has, the \
                 same command measures both.\n"
            );
        }
    }

    fn ratios(&self, w: &mut String) {
        if !self.native_available {
            return;
        }
        let _ = writeln!(w, "## Component / native\n");
        let _ = writeln!(w, "| route | throughput | p50 | p99 | server CPU per request |\n|---|---:|---:|---:|---:|");
        for route in Route::ALL {
            let (Some(c), Some(n)) = (
                self.find(Section::Routes, route, Engine::Component),
                self.find(Section::Routes, route, Engine::Native),
            ) else {
                continue;
            };
            let cpu = |o: &Outcome| {
                let c = o.server_cpu_per_request_us();
                c.user_us + c.sys_us
            };
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} |",
                route.title(),
                ratio(c.requests_per_second(), n.requests_per_second()),
                ratio(c.quantile(0.5).as_secs_f64(), n.quantile(0.5).as_secs_f64()),
                ratio(c.quantile(0.99).as_secs_f64(), n.quantile(0.99).as_secs_f64()),
                ratio(cpu(c), cpu(n)),
            );
        }
        let _ =
            writeln!(w, "\nAbove 1 means the component has more of it: more throughput, or more latency and CPU.\n");
    }

    /// Cores busy outside the host and the load generator during the /healthz windows (which use
    /// no store): other work on the machine.
    fn outside_cores(&self) -> Option<f64> {
        let rows: Vec<f64> = self
            .measured
            .iter()
            .filter(|(s, m)| *s == Section::Routes && m.route == Route::Healthz)
            .map(|(_, m)| m.outcome.rest_cpu_per_request_us() * m.outcome.requests_per_second() / 1e6)
            .collect();
        (!rows.is_empty()).then(|| rows.iter().sum::<f64>() / rows.len() as f64)
    }

    /// Requests per second that hashing alone allows: every core verifying one password after another.
    fn hash_bound(&self) -> f64 {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        cores / median(&self.hash_native).as_secs_f64()
    }

    fn hashing(&self, w: &mut String) {
        let _ = writeln!(w, "## Password hashing and login\n");
        let v = &self.hash_native;
        if v.is_empty() {
            return;
        }
        let _ = writeln!(
            w,
            "- A password verified with {} (the default, which every server here runs with), by the component's own \
             code compiled natively, in the bench process: median {} of {} (range {}–{}).",
            host::hashing_label(),
            ms(median(v)),
            v.len(),
            ms(*v.iter().min().expect("not empty")),
            ms(*v.iter().max().expect("not empty"))
        );
        let alone: Vec<(Engine, &Outcome)> = self
            .measured
            .iter()
            .filter(|(s, _)| *s == Section::LoginAlone)
            .map(|(_, m)| (m.engine, &m.outcome))
            .collect();
        for (engine, o) in &alone {
            let _ = writeln!(
                w,
                "- A login alone (1 connection), {engine}: p50 {}, mean {} over {} logins; the whole request, of which \
                 the hash is nearly all.",
                ms(o.quantile(0.5)),
                ms(o.mean()),
                o.completed
            );
        }
        if let [(_, c), (_, n)] = alone.as_slice()
            && c.completed > 0
            && n.completed > 0
        {
            let _ = writeln!(
                w,
                "- So the hash inside the component costs about {:.2}× its native time (p50 of a login alone, component / native).",
                c.quantile(0.5).as_secs_f64() / n.quantile(0.5).as_secs_f64()
            );
        }
        let bound = self.hash_bound();
        let _ = write!(w, "- The bound on login throughput is cores / native verify time = {} req/s.", rate(bound));
        for engine in [Engine::Component, Engine::Native] {
            if let Some(o) = self.find(Section::Routes, Route::Login, engine) {
                let _ = write!(
                    w,
                    " {engine}: {} req/s ({:.0}%).",
                    rate(o.requests_per_second()),
                    o.requests_per_second() / bound * 100.0
                );
            }
        }
        let _ = writeln!(w, "\n");
    }

    fn cold_starts(&self, w: &mut String) {
        let c = &self.cold;
        if c.warm.is_empty() && c.empty.is_empty() {
            return;
        }
        let _ = writeln!(w, "## Cold start\n");
        let _ = writeln!(
            w,
            "From spawning `asm serve` to its first 200 from `/healthz` (polled every millisecond), with no load.\n"
        );
        let _ = writeln!(w, "| start | runs | min | median | max |\n|---|---:|---:|---:|---:|");
        for (label, v) in [
            ("component, empty `ASM_CACHE_DIR` (compiles the component)", &c.empty),
            ("component, `ASM_CACHE_DIR` holding the compiled component", &c.warm),
            ("native engine", &c.native),
        ] {
            if v.is_empty() {
                continue;
            }
            let _ = writeln!(
                w,
                "| {label} | {} | {} | {} | {} |",
                v.len(),
                ms(*v.iter().min().expect("not empty")),
                ms(median(v)),
                ms(*v.iter().max().expect("not empty"))
            );
        }
        let _ =
            writeln!(w, "\nThe compiled component in the cache is {:.1} MiB.\n", c.artifact_bytes as f64 / 1048576.0);
    }

    /// The quiet session checks, those during the storm, and the storm.
    fn storm_runs(&self) -> Option<(&Outcome, &Outcome, &Outcome)> {
        let run = |label: &str| {
            self.measured.iter().find(|(s, m)| *s == Section::Storm && m.label == label).map(|(_, m)| &m.outcome)
        };
        Some((run(crate::STORM_QUIET)?, run(crate::STORM_DURING)?, run(crate::STORM_ITSELF)?))
    }

    fn storm(&self, w: &mut String) {
        let Some((quiet, during, storm)) = self.storm_runs() else { return };
        let _ = writeln!(
            w,
            "## A login storm
"
        );
        let _ = writeln!(
            w,
            "`/auth/user/me` through the component with {} connections, quiet, then again while {} more connections \
             send wrong passwords for emails that are each used once, each from another address (`X-Forwarded-For`, \
             believed from the load generator), so no lock-out stops them: credential stuffing from a botnet. \
             {}. Password hashing takes turns (`HASH_CONCURRENCY`, half the cores); logins that find \
             the queue full, or wait too long, get 503 with `Retry-After`.\n",
            quiet.concurrency,
            storm.concurrency,
            crate::host::hashing_label()
        );
        let _ = writeln!(w, "| | req/s | p50 | p99 | server CPU (user + sys) |\n|---|---|---|---|---|");
        for (label, o) in [("session checks, quiet", quiet), ("session checks, during the storm", during)] {
            let cpu = o.server_cpu_per_request_us();
            let _ = writeln!(
                w,
                "| {label} | {} | {} | {} | {} + {} µs |",
                rate(o.requests_per_second()),
                ms(o.quantile(0.5)),
                ms(o.quantile(0.99)),
                us(cpu.user_us),
                us(cpu.sys_us)
            );
        }
        let secs = storm.window.as_secs_f64();
        let _ = writeln!(
            w,
            "\nThe storm itself: {:.1} logins checked per second (401, p50 {}), {:.1} turned away per second (503); \
             session checks kept {:.2}× their throughput, with p99 {:.2}× quiet.\n",
            storm.completed as f64 / secs,
            ms(storm.quantile(0.5)),
            storm.refused as f64 / secs,
            during.requests_per_second() / quiet.requests_per_second(),
            during.quantile(0.99).as_secs_f64() / quiet.quantile(0.99).as_secs_f64()
        );
    }

    fn scale(&self, w: &mut String) {
        let _ = writeln!(w, "## Scale\n");
        let _ = writeln!(w, "### `/auth/user/me` and the number of sessions in Redis\n");
        let seeded: Vec<String> = self
            .seeding
            .iter()
            .map(|(n, t)| {
                format!(
                    "{} in {:.1} s ({}/s)",
                    thousands(*n),
                    t.as_secs_f64(),
                    rate(*n as f64 / t.as_secs_f64().max(1e-9))
                )
            })
            .collect();
        let _ = writeln!(
            w,
            "Sessions beyond those made over HTTP are written straight into Redis in the host's layout (a hash with \
             `data` and `la` plus `PEXPIRE`, and the user's `user-sessions` sorted set), in pipelines of 10,000 \
             commands, ten sessions per made-up user: {}.\n",
            seeded.join(", ")
        );
        table_header(w);
        for (s, m) in &self.measured {
            if matches!(s, Section::MeScale(_)) {
                table_row(w, &m.label, m.engine, &m.outcome);
            }
        }
        for engine in [Engine::Component, Engine::Native] {
            let runs: Vec<(u64, &Outcome)> = self
                .measured
                .iter()
                .filter_map(|(s, m)| match s {
                    Section::MeScale(n) if m.engine == engine => Some((*n, &m.outcome)),
                    _ => None,
                })
                .collect();
            if let (Some((lo, first)), Some((hi, last))) = (runs.first(), runs.last())
                && lo != hi
            {
                let _ = write!(
                    w,
                    "\n{engine}: from {} to {} sessions, throughput ×{:.2} and p99 ×{:.2}.",
                    thousands(*lo),
                    thousands(*hi),
                    last.requests_per_second() / first.requests_per_second(),
                    last.quantile(0.99).as_secs_f64() / first.quantile(0.99).as_secs_f64()
                );
            }
        }
        let _ = writeln!(w);
        let _ = writeln!(w, "\n### `/auth/user/sessions` and the sessions of the user\n");
        table_header(w);
        for (s, m) in &self.measured {
            if matches!(s, Section::SessionsPerUser(_)) {
                table_row(w, &m.label, m.engine, &m.outcome);
            }
        }
        let _ = writeln!(w);
    }

    fn method(&self, w: &mut String) {
        let _ = writeln!(w, "## How it is measured\n");
        let _ = writeln!(
            w,
            "- Servers: `target/release/asm serve` as subprocesses on free ports with a clean environment: \
             `DATABASE_URL=postgres://postgres@127.0.0.1:5432/asm_bench_<stamp>` (created by `asm migrate up`, dropped \
             at the end), `REDIS_ADDR=127.0.0.1:6379` with `REDIS_KEY_PREFIX=asm-bench-<stamp>:` (its keys deleted at \
             the end), the password hash {}, every other setting at its default, and `RUST_LOG=warn`: the per-request log \
             line is off, since writing it would be part of every figure. Both engines run at once on the same stores; \
             the idle one costs next to nothing.",
            host::hashing_label()
        );
        let _ = writeln!(
            w,
            "- Load: one tokio thread with hyper 1 client connections kept alive; each connection sends its next \
             request when the previous answer has been read. Answers completed inside the measured window count; \
             their latencies go into an HdrHistogram (3 significant digits). Any other status than the route's (200, \
             401 or 201) counts as an error. Each connection keeps to one of {} users: `/auth/user/me` sends that \
             user's session (made by logging in over HTTP) and `/auth/login` logs that user in again (logins in flight \
             for one email count toward its lock-out, so no two connections share one); `/auth/register` uses a new \
             email for every request. A window lasts its duration, and is stretched until every connection could have \
             had one answer when hashing makes the first answers slower than that.",
            self.me_users
        );
        let _ = writeln!(
            w,
            "- Server CPU per request: `utime` and `stime` of `/proc/<pid>/stat` (all threads of the host) read at the \
             window's start and end, in clock ticks of {} per second (`sysconf(_SC_CLK_TCK)`, `getconf CLK_TCK`); \
             the CPU used per second of the window divided by the requests per second. PostgreSQL's and Redis's own \
             CPU is not in it. Load generator CPU is the same reading of the bench process; the rest of the \
             machine is all CPU time of `/proc/stat` less those two: PostgreSQL, Redis, and anything else that ran \
             (on a quiet machine it is the stores' cost; on `/healthz` it should be near zero). A clock tick is \
             {} ms, so on the hashing rows, with a few dozen requests per window, the small columns are noise.",
            host::clock_ticks_per_second(),
            1000 / host::clock_ticks_per_second()
        );
        let _ = writeln!(
            w,
            "- Peak RSS: `VmHWM` of `/proc/<pid>/status`, reset before each window by writing `5` to \
             `/proc/<pid>/clear_refs`, so each row shows the peak of its own window."
        );
        let _ = writeln!(w);
    }
}

fn table_header(w: &mut String) {
    let _ = writeln!(
        w,
        "| run | engine | req/s | p50 | p90 | p99 | server CPU user µs/req | server CPU sys µs/req | peak RSS | load gen CPU µs/req | rest of machine CPU µs/req | errors |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn table_row(w: &mut String, label: &str, engine: Engine, o: &Outcome) {
    let cpu = o.server_cpu_per_request_us();
    let _ = writeln!(
        w,
        "| {label} | {engine} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        rate(o.requests_per_second()),
        if o.uses_littles_law() { " ‡" } else { "" },
        ms(o.quantile(0.5)),
        ms(o.quantile(0.9)),
        ms(o.quantile(0.99)),
        us(cpu.user_us),
        us(cpu.sys_us),
        o.peak_rss_kib.map(mib).unwrap_or_else(|| "?".into()),
        us(o.client_cpu_per_request_us()),
        us(o.rest_cpu_per_request_us()),
        o.errors
    );
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn git_describe() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("commit `{rev}`{}", if dirty { " with uncommitted changes" } else { "" })
        }
        None => "unknown (not a git checkout)".into(),
    }
}

pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rate(x: f64) -> String {
    if x >= 100.0 { thousands(x.round() as u64) } else { format!("{x:.1}") }
}

pub fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    match m {
        m if m < 1.0 => format!("{m:.3} ms"),
        m if m < 10.0 => format!("{m:.2} ms"),
        m if m < 100.0 => format!("{m:.1} ms"),
        m => format!("{} ms", thousands(m.round() as u64)),
    }
}

fn us(x: f64) -> String {
    if x >= 10.0 { thousands(x.round() as u64) } else { format!("{x:.1}") }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 { format!("{:.2}×", a / b) } else { "?".into() }
}
