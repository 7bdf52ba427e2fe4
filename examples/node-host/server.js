// A Node.js host for the asm auth component, transpiled to JavaScript by jco.
//
//   npm run build   # jco transpile -> gen/
//   npm start       # PORT=3001 HOST=127.0.0.1 by default
//
// What this host provides to the component:
// - asm:auth/user-store, session-store, geo, keyring, mailer, events and hashing: the in-memory
//   stores, the key, the logging mailer and the event trail of stores.js, wired in at build time
//   by `jco transpile --map ...`
//   (the key is ASM_SECRET_KEY, base64, or a random one for the life of the process);
// - wasi:cli/environment: exactly the settings the component reads (GUEST_VARS), taken from
//   this process's environment;
// - wasi:http/incoming-handler: every request, with `spin-client-addr: <ip>:<port>` set from the
//   TCP peer (a client-sent copy is removed first), by front.js;
// - clocks, random, stdio and the rest of WASI 0.2: @bytecodealliance/preview2-shim.
//
// One instance of the component serves every request, one at a time (the guest is
// synchronous and runs on this thread).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { _setEnv } from '@bytecodealliance/preview2-shim/cli';
import { HTTPServer } from '@bytecodealliance/preview2-shim/http';
import { guestEnv } from './settings.js';

function fail(message) {
  console.error(`asm node host: ${message}`);
  process.exit(1);
}

/** A whole number of seconds from the environment (`10` or `10s`), or the default. */
function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim().replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a number of seconds, got ${raw}`);
  return n;
}

function parsePort(value) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be 0-65535, got ${value}`);
  return port;
}

/** The address to reach a listener on `address` from this machine. */
function localUrl({ address, family, port }) {
  if (address === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (address === '::') return `http://[::1]:${port}`;
  return family === 'IPv6' ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

async function main() {
  const port = parsePort(process.env.PORT ?? '3001');
  const host = process.env.HOST || '127.0.0.1';

  if (!existsSync(new URL('./gen/asm_guest.js', import.meta.url))) {
    fail('gen/asm_guest.js is missing: run `npm run build` first');
  }

  // The component reads its settings once, on its first request; set them before it can.
  // (Without this the shim would hand the guest this process's whole environment.)
  _setEnv(guestEnv());
  const { incomingHandler } = await import('./gen/asm_guest.js');
  const { setSecretKey, sweep } = await import('./stores.js');
  if (process.env.ASM_SECRET_KEY) {
    const key = Buffer.from(process.env.ASM_SECRET_KEY, 'base64');
    if (key.length < 32) fail('ASM_SECRET_KEY must be base64 of at least 32 bytes (openssl rand -base64 32)');
    setSecretKey(key);
  }
  setInterval(sweep, 60_000).unref();

  // The component's own server: preview2-shim's HTTPServer, on a Unix socket in a directory
  // only this user can enter (mkdtemp makes it 0700), so only front.js reaches it.
  const dir = mkdtempSync(join(tmpdir(), 'asm-node-host-'));
  const socketPath = join(dir, 'component.sock');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', cleanup);

  const inner = new HTTPServer({
    handle(request, responseOut) {
      try {
        incomingHandler.handle(request, responseOut);
      } catch (e) {
        // A trap (or an exception a host function let escape) leaves the instance unusable:
        // jco refuses to enter a trapped instance again. Let a supervisor start a fresh process.
        console.error('asm node host: the component failed; exiting:', e);
        process.exit(70);
      }
    },
  });
  inner.listen(socketPath);

  const front = new Worker(new URL('./front.js', import.meta.url), {
    workerData: {
      socketPath,
      port,
      host,
      logRequests: process.env.LOG_REQUESTS !== '0',
      headerReadTimeoutMs: seconds('HEADER_READ_TIMEOUT', 10) * 1000,
      bodyReadTimeoutMs: seconds('BODY_READ_TIMEOUT', 10) * 1000,
    },
  });
  const address = await new Promise((resolve, reject) => {
    front.once('error', reject);
    front.on('message', (msg) => {
      if (msg.type === 'listening') resolve(msg);
      if (msg.type === 'error') reject(new Error(msg.message));
    });
  }).catch((e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
  const url = localUrl(address);

  // Every request reads the settings first, so one request shows whether they are usable.
  const check = await fetch(`${url}/healthz`).catch((e) => fail(`self-check failed: ${e.message}`));
  if (check.status !== 200) {
    fail(`the component refused its settings (GET /healthz answered ${check.status}); see its message above`);
  }

  console.log(`asm node host listening on ${url} (bound to ${address.address}:${address.port})`);

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight requests`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    front.on('message', (msg) => {
      if (msg.type !== 'closed') return;
      inner.stop();
      front.terminate().finally(() => process.exit(0));
    });
    front.postMessage({ type: 'close' });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
