//! The release host as a subprocess: started on a free port with a clean environment, watched
//! through /proc (CPU time, peak RSS), stopped with SIGTERM.

use crate::load;
use anyhow::{Context as _, bail};
use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How every server hashes passwords: the component's default (Argon2id at OWASP's minimum),
/// stated explicitly.
pub const HASHING: asm_guest::config::PasswordHashing = asm_guest::config::PasswordHashing::ARGON2ID_DEFAULT;

/// [`HASHING`] as the component's settings.
pub fn hashing_env() -> Vec<(&'static str, String)> {
    match HASHING {
        asm_guest::config::PasswordHashing::Argon2id { memory_kib, iterations, parallelism } => vec![
            ("PASSWORD_HASH", "argon2id".into()),
            ("ARGON2_MEMORY_KIB", memory_kib.to_string()),
            ("ARGON2_ITERATIONS", iterations.to_string()),
            ("ARGON2_PARALLELISM", parallelism.to_string()),
        ],
        asm_guest::config::PasswordHashing::Bcrypt { cost } => {
            vec![("PASSWORD_HASH", "bcrypt".into()), ("BCRYPT_COST", cost.to_string())]
        }
    }
}

/// [`HASHING`] in words, for the report.
pub fn hashing_label() -> String {
    match HASHING {
        asm_guest::config::PasswordHashing::Argon2id { memory_kib, iterations, parallelism } => {
            format!("Argon2id (m = {memory_kib} KiB, t = {iterations}, p = {parallelism})")
        }
        asm_guest::config::PasswordHashing::Bcrypt { cost } => format!("bcrypt at cost {cost}"),
    }
}

/// What answers: the component in our host, the same logic compiled natively (the baseline),
/// the component under `spin up`, or the peer (Better Auth on Node, `bench/peers/better-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Component,
    Native,
    Spin,
    BetterAuth,
}

impl Engine {
    /// The path that answers 200 once the server is ready.
    pub fn ready_path(self) -> &'static str {
        match self {
            Engine::BetterAuth => "/api/auth/ok",
            _ => "/healthz",
        }
    }

    /// True for the engines that run this project's auth logic (and its routes).
    pub fn is_ours(self) -> bool {
        self != Engine::BetterAuth
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Component => "component",
            Engine::Native => "native",
            Engine::Spin => "spin",
            Engine::BetterAuth => "better-auth",
        })
    }
}

/// Everything a server needs besides its engine, port and cache directory.
#[derive(Clone)]
pub struct HostConfig {
    pub bin: PathBuf,
    /// The native baseline's server (`asm-native`, built with the benchmark).
    pub native_bin: PathBuf,
    pub component: PathBuf,
    pub database_url: String,
    pub redis_addr: String,
    pub redis_prefix: String,
    /// Logs and caches go here; also the working directory, so no `.env` is picked up.
    pub workdir: PathBuf,
    /// `spin` and the manifest it runs (spin.toml), when the Spin row is measured.
    pub spin: Option<(PathBuf, PathBuf)>,
    /// The peer's directory (with its node_modules) and its own database, when peers run.
    pub peer: Option<(PathBuf, String)>,
}

/// The key the servers sign device cookies with (32 bytes of 0x42): fixed, so every engine
/// accepts every other's cookies.
const SECRET_KEY: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// A running `asm serve`.
pub struct Host {
    child: Child,
    pub engine: Engine,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Host {
    /// Starts the server; it is not ready until `wait_ready` says so.
    pub fn spawn(cfg: &HostConfig, engine: Engine, cache_dir: &Path, tag: &str) -> anyhow::Result<Host> {
        let port = free_port()?;
        let log = cfg.workdir.join(format!("host-{engine}-{tag}.log"));
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = match engine {
            Engine::Component | Engine::Native => {
                let bin = if engine == Engine::Native { &cfg.native_bin } else { &cfg.bin };
                let mut cmd = Command::new(bin);
                cmd.arg("serve");
                // A clean environment: only what is set here reaches the server.
                cmd.env_clear()
                    .current_dir(&cfg.workdir)
                    .env("HOST", "127.0.0.1")
                    .env("PORT", port.to_string())
                    .env("DATABASE_URL", &cfg.database_url)
                    .env("REDIS_ADDR", &cfg.redis_addr)
                    .env("REDIS_KEY_PREFIX", &cfg.redis_prefix)
                    .env("ASM_COMPONENT", &cfg.component)
                    .env("ASM_CACHE_DIR", cache_dir)
                    .env("ASM_SECRET_KEY", SECRET_KEY)
                    .envs(hashing_env())
                    .env("METRICS_ADDR", "off")
                    // The login storm comes from many addresses, as a botnet's does: the load
                    // generator says which in X-Forwarded-For.
                    .env("TRUSTED_PROXIES", "127.0.0.1/32")
                    // One log line per request would be part of every figure; warnings only.
                    .env("RUST_LOG", "warn");
                cmd
            }
            Engine::Spin => {
                let (spin, manifest) = cfg.spin.as_ref().context("no Spin binary (--spin)")?;
                let mut cmd = Command::new(spin);
                cmd.arg("up").arg("-f").arg(manifest).args(["--listen", &format!("127.0.0.1:{port}")]);
                // The manifest runs in production (Secure cookies); this is plain HTTP.
                cmd.args(["-e", "APP_ENV=development"]);
                for (k, v) in hashing_env() {
                    cmd.args(["-e".to_string(), format!("{k}={v}")]);
                }
                cmd.env_clear()
                    .current_dir(manifest.parent().unwrap_or(Path::new(".")))
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("HOME", &cfg.workdir)
                    .env("SPIN_VARIABLE_DB_URL", format!("{}?sslmode=disable", cfg.database_url))
                    .env("SPIN_VARIABLE_DB_HOST", host_port(&cfg.database_url, 5432))
                    .env("SPIN_VARIABLE_REDIS_URL", format!("redis://{}", cfg.redis_addr))
                    .env("SPIN_VARIABLE_REDIS_HOST", &cfg.redis_addr)
                    .env("SPIN_VARIABLE_REDIS_KEY_PREFIX", &cfg.redis_prefix)
                    .env("SPIN_VARIABLE_SECRET_KEY", SECRET_KEY)
                    .env("RUST_LOG", "warn");
                // `spin up` runs the app in a child process: a group of their own, so both are
                // measured and stopped together.
                std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
                cmd
            }
            Engine::BetterAuth => {
                let (dir, database_url) = cfg.peer.as_ref().context("no peer directory (--peers)")?;
                let mut cmd = Command::new("node");
                cmd.arg("server.mjs")
                    .env_clear()
                    .current_dir(dir)
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("NODE_ENV", "production")
                    .env("PORT", port.to_string())
                    .env("DATABASE_URL", database_url)
                    .env("REDIS_URL", format!("redis://{}", cfg.redis_addr))
                    .env("REDIS_PREFIX", format!("{}ba:", cfg.redis_prefix))
                    .env("BETTER_AUTH_SECRET", SECRET_KEY);
                cmd
            }
        };
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("starting the {engine} server"))?;
        Ok(Host { child, engine, addr: SocketAddr::from(([127, 0, 0, 1], port)), log })
    }

    /// Polls the ready path every millisecond until it answers 200; returns the time since `since`.
    pub async fn wait_ready(&mut self, since: Instant, timeout: Duration) -> anyhow::Result<Duration> {
        loop {
            if let Ok((status, _, _)) = load::get_once(self.addr, self.engine.ready_path()).await
                && status == 200
            {
                return Ok(since.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the {} host exited with {status} before it was ready:\n{}", self.engine, self.log_tail());
            }
            if since.elapsed() > timeout {
                bail!("the {} host was not ready after {timeout:?}:\n{}", self.engine, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User and system CPU time the whole server (every thread; under Spin, every process of
    /// its group) has used so far.
    pub fn cpu(&self) -> anyhow::Result<CpuTime> {
        if self.engine != Engine::Spin {
            return CpuTime::of(&format!("/proc/{}/stat", self.pid()));
        }
        let mut total = CpuTime::default();
        for pid in group_members(self.pid())? {
            if let Ok(t) = CpuTime::of(&format!("/proc/{pid}/stat")) {
                total.user_us += t.user_us;
                total.sys_us += t.sys_us;
            }
        }
        Ok(total)
    }

    /// Sets the peak RSS back to the current RSS (Linux: `5` into `clear_refs`).
    pub fn reset_peak_rss(&self) -> bool {
        let pids =
            if self.engine == Engine::Spin { group_members(self.pid()).unwrap_or_default() } else { vec![self.pid()] };
        pids.iter().all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    }

    /// VmHWM: the highest resident set size since start or the last reset, in KiB (under
    /// Spin, the sum over its processes).
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let pids = if self.engine == Engine::Spin { group_members(self.pid())? } else { vec![self.pid()] };
        let mut total = 0;
        for pid in pids {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            total += status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .context("no VmHWM in /proc/<pid>/status")?;
        }
        Ok(total)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 15 s for a graceful exit, then SIGKILL.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // SAFETY: kill(2) on the pid of a child this process started and has not reaped (under
        // Spin, on the process group it leads).
        let target = if self.engine == Engine::Spin {
            -(self.child.id() as libc::pid_t)
        } else {
            self.child.id() as libc::pid_t
        };
        unsafe { libc::kill(target, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the {} host did not stop within 15 s of SIGTERM; killed", self.engine)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// CPU time from a `/proc/<pid>/stat` (or `/proc/self/stat`), in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    pub user_us: f64,
    pub sys_us: f64,
}

impl CpuTime {
    pub fn of(stat_path: &str) -> anyhow::Result<CpuTime> {
        let stat = std::fs::read_to_string(stat_path).with_context(|| format!("reading {stat_path}"))?;
        // The command name may contain spaces and parentheses: fields are counted after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of stat(5), utime and stime; `rest` starts at field 3.
        let ticks =
            |i: usize| -> anyhow::Result<f64> { Ok(fields.get(i - 3).context("short stat")?.parse::<u64>()? as f64) };
        let us_per_tick = 1e6 / clock_ticks_per_second() as f64;
        Ok(CpuTime { user_us: ticks(14)? * us_per_tick, sys_us: ticks(15)? * us_per_tick })
    }

    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime { user_us: self.user_us - earlier.user_us, sys_us: self.sys_us - earlier.sys_us }
    }
}

/// CPU time every process on the machine has used since boot (all cores; idle and iowait
/// left out), in microseconds, from the first line of /proc/stat.
pub fn machine_busy_us() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")).context("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = cpu.split_whitespace().map(|t| t.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    Ok(busy as f64 * 1e6 / clock_ticks_per_second() as f64)
}

/// `getconf CLK_TCK`: the unit of utime and stime (100 on Linux, from sysconf when it answers).
pub fn clock_ticks_per_second() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n } else { 100 }
}

/// The processes of the group `leader` leads.
fn group_members(leader: u32) -> anyhow::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Field 5 of stat(5) is the process group; fields are counted after the last ')'.
        let pgrp = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(2)?.parse::<u32>().ok());
        if pgrp == Some(leader) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// `host:port` of a URL, with the default port when it names none.
fn host_port(url: &str, default_port: u16) -> String {
    let after = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after.split(['/', '?']).next().unwrap_or(after);
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if host.contains(':') { host.to_string() } else { format!("{host}:{default_port}") }
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `asm migrate up`: creates the database and applies the schema.
pub fn migrate_up(cfg: &HostConfig) -> anyhow::Result<()> {
    let out = Command::new(&cfg.bin)
        .args(["migrate", "up"])
        .env_clear()
        .current_dir(&cfg.workdir)
        .env("DATABASE_URL", &cfg.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("running {} migrate up", cfg.bin.display()))?;
    if !out.status.success() {
        bail!(
            "`asm migrate up` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
