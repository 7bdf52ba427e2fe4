// End-to-end: starts server.js as a child process on a free port and drives the component
// over real HTTP. Needs `npm run build` first. Run with `npm test` (node --test).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

let child;
let base;
const ADMIN_TOKEN = 'an-operator-token-for-the-node-host-test';
let output = '';

async function startServer() {
  child = spawn(process.execPath, ['server.js'], {
    cwd: new URL('.', import.meta.url),
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      ARGON2_MEMORY_KIB: '256',
      ARGON2_ITERATIONS: '1',
      LOG_REQUESTS: '0',
      BODY_READ_TIMEOUT: '2',
      ADMIN_TOKEN: ADMIN_TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000);
    child.stdout.on('data', (d) => {
      output += d;
      const m = output.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
}

async function call(method, path, { json, cookie, headers = {} } = {}) {
  const h = { ...headers };
  if (json !== undefined) h['content-type'] = 'application/json';
  if (cookie) h.cookie = cookie;
  const res = await fetch(base + path, {
    method,
    headers: h,
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/** A fresh account per test, so tests do not depend on each other. */
let n = 0;
function account() {
  n += 1;
  const tag = `${process.pid}-${n}`;
  return {
    email: `user-${tag}@example.com`,
    username: `user-${tag}`,
    password: 'correct horse battery',
    full_name: `User ${n}`,
  };
}

before(async () => {
  base = await startServer();
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

describe('asm component on the Node host', () => {
  test('register, login, me, sessions, logout', async () => {
    const a = account();

    const reg = await call('POST', '/auth/register', { json: a });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.equal(reg.body.data.email, a.email);

    // The client's own spin-client-addr must not reach the component.
    const login = await call('POST', '/auth/login', {
      json: { email: a.email.toUpperCase(), password: a.password },
      headers: { 'spin-client-addr': '203.0.113.9:4444', 'user-agent': 'node-host-test' },
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    // Both cookies arrive: the session cookie and the device cookie (patch-shim.mjs).
    const names = login.headers.getSetCookie().map((c) => c.split('=')[0]);
    assert.deepEqual(names, ['session_token_device', 'session_token']);
    const setCookie = login.headers.getSetCookie().filter((c) => c.startsWith('session_token='));
    const m = setCookie[0].match(/^session_token=([^;]+);/);
    assert.match(setCookie[0], /HttpOnly/);
    const cookie = `session_token=${m[1]}`;

    const me = await call('GET', '/auth/user/me', { cookie });
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.data.user.email, a.email);
    assert.equal(me.body.data.user.username, a.username);
    assert.ok(me.body.data.user.last_login, 'record-login stamped the login');

    const list = await call('GET', '/auth/user/sessions', { cookie });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.data.sessions.length, 1);
    assert.equal(list.body.data.total_active_sessions, 1);
    const [s] = list.body.data.sessions;
    assert.equal(s.current_session, true);
    assert.equal(s.ip_address, '127.0.0.1', 'the peer address, not the client-sent header');
    assert.equal(s.location, 'Local');
    assert.equal(s.user_agent, 'node-host-test');

    const out = await call('POST', '/auth/logout', { cookie });
    assert.equal(out.status, 200, JSON.stringify(out.body));

    const again = await call('GET', '/auth/user/me', { cookie });
    assert.equal(again.status, 401);
  });

  test('a wrong password is 401', async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const bad = await call('POST', '/auth/login', { json: { email: a.email, password: 'not the password' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.getSetCookie().length, 0);
  });

  test('a taken email or username is 409 naming the field (store-error conflict)', async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const email = await call('POST', '/auth/register', {
      json: { ...account(), email: a.email.toUpperCase() },
    });
    assert.equal(email.status, 409);
    assert.equal(email.body.error.field, 'email');
    const username = await call('POST', '/auth/register', {
      json: { ...account(), username: a.username.toUpperCase() },
    });
    assert.equal(username.status, 409);
    assert.equal(username.body.error.field, 'username');
  });

  test('two logins are two sessions; only the caller is current', async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const cookies = [];
    for (let i = 0; i < 2; i++) {
      const login = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
      assert.equal(login.status, 200);
      cookies.push(login.headers.getSetCookie().find((c) => c.startsWith('session_token=')).split(';')[0]);
    }
    const list = await call('GET', '/auth/user/sessions', { cookie: cookies[1] });
    assert.equal(list.body.data.sessions.length, 2);
    assert.equal(list.body.data.sessions.filter((s) => s.current_session).length, 1);
  });

  test('login history and revoking the other sessions', async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const cookies = [];
    for (let i = 0; i < 2; i++) {
      const login = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
      cookies.push(login.headers.getSetCookie().find((c) => c.startsWith('session_token=')).split(';')[0]);
    }
    await call('POST', '/auth/login', { json: { email: a.email, password: 'not the password' } });

    const logins = await call('GET', '/auth/user/logins', { cookie: cookies[1] });
    assert.equal(logins.status, 200, JSON.stringify(logins.body));
    assert.equal(logins.body.data.total, 3);
    assert.deepEqual(
      logins.body.data.logins.map((l) => l.outcome),
      ['invalid_credentials', 'success', 'success'],
    );
    assert.equal(logins.body.data.logins[0].ip_address, '127.0.0.1');

    const revoked = await call('DELETE', '/auth/user/sessions', { cookie: cookies[1] });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.data.revoked, 1);
    assert.equal((await call('GET', '/auth/user/me', { cookie: cookies[0] })).status, 401);
    const list = await call('GET', '/auth/user/sessions', { cookie: cookies[1] });
    assert.equal(list.body.data.sessions.length, 1);
  });

  test("a stranger's guesses do not lock out the owner's browser (its device cookie)", async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const login = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
    assert.equal(login.status, 200);
    const device = login.headers.getSetCookie().find((c) => c.startsWith('session_token_device=')).split(';')[0];
    for (let i = 0; i < 5; i++) {
      const guess = await call('POST', '/auth/login', { json: { email: a.email, password: 'a stranger guess' } });
      assert.equal(guess.status, 401);
    }
    const stranger = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
    assert.equal(stranger.status, 429, 'clients without the device cookie are locked');
    const owner = await call('POST', '/auth/login', { json: { email: a.email, password: a.password }, cookie: device });
    assert.equal(owner.status, 200, "the owner's browser is not");
  });

  test('a body that arrives slowly gets 408 and holds up no one', async () => {
    const { connect } = await import('node:net');
    const url = new URL(base);
    const slow = connect(Number(url.port), url.hostname);
    await once(slow, 'connect');
    slow.write('POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em');
    let answer = '';
    slow.setEncoding('utf8');
    slow.on('data', (d) => (answer += d));
    const started = Date.now();
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.ok(Date.now() - started < 1000, 'answered while the slow body is still coming');
    await once(slow, 'close');
    assert.match(answer, /^HTTP\/1.1 408/);
    assert.match(answer, /"status":408/);
  });

  test('the settings passed to the component are exactly the contract\'s', async () => {
    const { readFileSync } = await import('node:fs');
    const contract = readFileSync(new URL('../../contract/src/http.rs', import.meta.url), 'utf8');
    const block = contract.slice(contract.indexOf('pub const SETTINGS'), contract.indexOf('];', contract.indexOf('pub const SETTINGS')));
    const names = [...block.matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]);
    const { GUEST_VARS } = await import('./settings.js');
    assert.deepEqual(GUEST_VARS, names);
  });

  test('an operator disables an account: its sessions end, the right password gets 403', async () => {
    const a = account();
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201);
    const cookies = [];
    for (let i = 0; i < 2; i += 1) {
      const login = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      cookies.push(login.headers.getSetCookie().find((c) => c.startsWith('session_token=')).split(';')[0]);
    }
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    assert.equal((await call('GET', '/admin/users')).status, 401, 'the token is needed');
    const found = await call('GET', `/admin/users?q=${encodeURIComponent(a.email)}`, { headers: admin });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    const [user] = found.body.data.users;
    assert.equal(user.email, a.email);
    const off = await call('POST', `/admin/users/${user.id}/disable`, { headers: admin });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.data.revoked, 2);
    for (const cookie of cookies) assert.equal((await call('GET', '/auth/user/me', { cookie })).status, 401);
    const right = await call('POST', '/auth/login', { json: { email: a.email, password: a.password } });
    assert.equal(right.status, 403);
    assert.equal(right.body.error, 'account_disabled');
    const wrong = await call('POST', '/auth/login', { json: { email: a.email, password: 'not the password' } });
    assert.equal(wrong.status, 401);
    const gone = await call('DELETE', `/admin/users/${user.id}`, { headers: admin });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal((await call('POST', '/auth/register', { json: a })).status, 201, 'the address registers again');
  });

  test('health and readiness', async () => {
    assert.equal((await call('GET', '/healthz')).status, 200);
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.data, { user_store: 'up', session_store: 'up' });
  });
});
