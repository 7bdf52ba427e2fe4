// Better Auth benchmark peer for asm-bench.
//
// One node:http server that serves Better Auth's own routes under /api/auth,
// backed by PostgreSQL (users, accounts) and Redis as `secondaryStorage`
// (sessions). At start it checks both stores, runs Better Auth's migrations,
// listens on 127.0.0.1:$PORT and prints exactly one line `ready <port>` to
// stdout. Everything else goes to stderr. See README.md for the contract.

import { createServer } from "node:http";
import process from "node:process";

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { Redis } from "ioredis";
import pg from "pg";

const STARTUP_TIMEOUT_MS = 5000;

function fail(message) {
  process.stderr.write(`better-auth peer: ${message}\n`);
  process.exit(1);
}

function log(message) {
  process.stderr.write(`better-auth peer: ${message}\n`);
}

function requireEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === "") fail(`${name} must be set`);
  return value;
}

function errorText(err) {
  if (err instanceof AggregateError && err.errors?.length) {
    return err.errors.map((e) => e?.message ?? String(e)).join("; ");
  }
  return err?.message || err?.code || String(err);
}

// ---- configuration -------------------------------------------------------

const portText = requireEnv("PORT");
const port = Number(portText);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fail(`PORT must be an integer in 1..65535, got ${JSON.stringify(portText)}`);
}
const databaseUrl = requireEnv("DATABASE_URL");
const redisUrl = requireEnv("REDIS_URL");
const secret = requireEnv("BETTER_AUTH_SECRET");
const redisPrefix = process.env.REDIS_PREFIX ?? "ba:";
const host = "127.0.0.1";
const baseURL = `http://${host}:${port}`;

// ---- PostgreSQL ----------------------------------------------------------

// Probe with a single client first, with a connect timeout, so an unreachable
// server fails fast with a clear message instead of hanging.
{
  const probe = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: STARTUP_TIMEOUT_MS,
  });
  try {
    await probe.connect();
    await probe.query("SELECT 1");
  } catch (err) {
    fail(`PostgreSQL unreachable at DATABASE_URL: ${errorText(err)}`);
  } finally {
    await probe.end().catch(() => {});
  }
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
pool.on("error", (err) => log(`idle PostgreSQL client error: ${errorText(err)}`));

// ---- Redis ---------------------------------------------------------------

let redisStarted = false;
let redisStartupError = null;
const redis = new Redis(redisUrl, {
  keyPrefix: redisPrefix,
  lazyConnect: true,
  connectTimeout: STARTUP_TIMEOUT_MS,
  // No retries while starting (fail fast); bounded back-off afterwards.
  retryStrategy: (times) => (redisStarted ? Math.min(times * 100, 2000) : null),
});
redis.on("error", (err) => {
  if (redisStarted) log(`Redis error: ${errorText(err)}`);
  else redisStartupError = err;
});
try {
  await redis.connect();
  await redis.ping();
} catch (err) {
  fail(`Redis unreachable at REDIS_URL: ${errorText(redisStartupError ?? err)}`);
}
redisStarted = true;

// INCR, and set the TTL only when the key was just created.
redis.defineCommand("baIncrementWithTtl", {
  numberOfKeys: 1,
  lua: `
local n = redis.call("INCR", KEYS[1])
if n == 1 and tonumber(ARGV[1]) > 0 then
  redis.call("EXPIRE", KEYS[1], ARGV[1])
end
return n
`,
});

// Better Auth's SecondaryStorage interface; ttl is in seconds. Keys are
// prefixed by ioredis' keyPrefix option.
const secondaryStorage = {
  get: (key) => redis.get(key),
  set: async (key, value, ttl) => {
    if (ttl !== undefined && ttl > 0) await redis.set(key, value, "EX", Math.ceil(ttl));
    else await redis.set(key, value);
  },
  delete: async (key) => {
    await redis.del(key);
  },
  getAndDelete: (key) => redis.getdel(key),
  increment: async (key, ttl) => Number(await redis.baIncrementWithTtl(key, Math.ceil(ttl ?? 0))),
};

// ---- Better Auth ---------------------------------------------------------

const auth = betterAuth({
  baseURL,
  secret,
  database: pool,
  secondaryStorage,
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  // Non-browser clients send no Origin on cookie-less POSTs, which Better
  // Auth accepts; a POST that carries a cookie must send one of these.
  trustedOrigins: [baseURL, `http://localhost:${port}`],
  session: {
    // Every get-session reads the session from the store.
    cookieCache: { enabled: false },
  },
  advanced: {
    // Keep the cookie name stable (`better-auth.session_token`) whatever
    // NODE_ENV says; the peer is plain HTTP on loopback.
    useSecureCookies: false,
  },
  telemetry: { enabled: false },
  logger: {
    level: "warn",
    // stdout is reserved for the readiness line.
    log: (level, message, ...args) => {
      console.error(`${level.toUpperCase()} [Better Auth]: ${message}`, ...args);
    },
  },
});

try {
  const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(auth.options);
  const tables = [...toBeCreated, ...toBeAdded].map((t) => t.table);
  await runMigrations();
  log(tables.length ? `migrated: ${[...new Set(tables)].join(", ")}` : "schema up to date");
  // Build the auth context now so configuration errors surface before ready.
  await auth.$context;
} catch (err) {
  fail(`migrations failed: ${errorText(err)}`);
}

// ---- HTTP server ---------------------------------------------------------

const server = createServer(toNodeHandler(auth));
server.keepAliveTimeout = 65_000;

server.on("error", (err) => fail(`cannot listen on ${host}:${port}: ${errorText(err)}`));
server.listen(port, host, () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: shutting down`);
  const force = setTimeout(() => {
    log("shutdown timed out");
    process.exit(1);
  }, 5000);
  force.unref();
  try {
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await pool.end();
    await redis.quit();
  } catch (err) {
    log(`error during shutdown: ${errorText(err)}`);
  }
  process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
