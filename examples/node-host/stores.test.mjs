// The in-memory stores on their own: the semantics the component relies on (wit/asm.wit),
// called the way the jco bindings call them (BigInt times, camelCase records).

import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clear,
  geo,
  keyring,
  mailer,
  sentMail,
  sessionStore,
  setSecretKey,
  StoreError,
  userStore,
} from './stores.js';

beforeEach(clear);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newUser(email = 'Ada@Example.com', username = 'ada') {
  return { email, username, fullName: 'Ada', passwordHash: '$2b$04$hash' };
}

function session(tokenHash, userId, expiresInMs = 60_000) {
  const now = BigInt(Date.now());
  return {
    id: `id-${tokenHash}`,
    tokenHash,
    userId,
    ipAddress: '127.0.0.1',
    userAgent: 'test',
    device: { browser: 'b', browserVersion: '1', os: 'o', osVersion: '2', category: 'pc', summary: 's' },
    location: 'Local',
    createdAt: now,
    lastActivity: now,
    expiresAt: now + BigInt(expiresInMs),
    mfa: false,
  };
}

function profileOf(s) {
  return {
    id: s.userId,
    email: `${s.userId}@example.com`,
    username: s.userId,
    fullName: 'Ada',
    createdAt: s.createdAt,
    lastLogin: s.createdAt,
    emailVerified: false,
    mfaEnabled: false,
  };
}

/** What the generated bindings read from a thrown error: its own `payload`. */
function payloadOf(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StoreError);
    assert.ok(Object.hasOwn(e, 'payload'));
    return e.payload;
  }
  assert.fail('expected a store error');
}

test('create-user returns the user with BigInt times and rejects duplicates case-insensitively', () => {
  const u = userStore.createUser(newUser());
  assert.match(u.id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof u.createdAt, 'bigint');
  assert.equal(u.lastLogin, undefined);
  assert.equal(u.emailVerified, false);
  assert.equal(u.totpSecret, undefined);
  assert.equal(u.totpEnabled, false);
  assert.deepEqual(payloadOf(() => userStore.createUser(newUser('ADA@example.COM', 'other'))), {
    tag: 'conflict',
    val: 'email',
  });
  assert.deepEqual(payloadOf(() => userStore.createUser(newUser('b@example.com', 'ADA'))), {
    tag: 'conflict',
    val: 'username',
  });
});

test('find-user-by-email is case-insensitive; find-user-by-id; record-login', () => {
  const u = userStore.createUser(newUser());
  assert.equal(userStore.findUserByEmail('ada@EXAMPLE.com').id, u.id);
  assert.equal(userStore.findUserByEmail('nobody@example.com'), undefined);
  assert.equal(userStore.findUserById('not-an-id'), undefined);
  userStore.recordLogin(u.id, 1234n);
  assert.equal(userStore.findUserById(u.id).lastLogin, 1234n);
  userStore.recordLogin('unknown', 1n); // not an error
  userStore.ping();
});

test('sessions: get only live ones, list per user, delete says whether it existed', () => {
  sessionStore.createSession(session('h1', 'u1'), profileOf(session('h1', 'u1')), 0, 0n);
  sessionStore.createSession(session('h2', 'u1'), profileOf(session('h2', 'u1')), 0, 0n);
  sessionStore.createSession(session('h3', 'u2'), profileOf(session('h3', 'u2')), 0, 0n);
  sessionStore.createSession(session('old', 'u1', -1), profileOf(session('old', 'u1', -1)), 0, 0n); // already expired: not stored

  assert.equal(sessionStore.getSession('h1').session.userId, 'u1');
  assert.equal(sessionStore.getSession('old'), undefined);
  assert.deepEqual(sessionStore.listSessions('u1').map((s) => s.tokenHash).sort(), ['h1', 'h2']);
  assert.equal(sessionStore.listSessions('nobody').length, 0);

  assert.equal(sessionStore.deleteSession('u1', 'h1'), true);
  assert.equal(sessionStore.deleteSession('u1', 'h1'), false);
  assert.equal(sessionStore.getSession('h1'), undefined);
  assert.deepEqual(sessionStore.listSessions('u1').map((s) => s.tokenHash), ['h2']);
});

test('sessions expire while stored', async () => {
  sessionStore.createSession(session('soon', 'u1', 30), profileOf(session('soon', 'u1', 30)), 0, 0n);
  assert.ok(sessionStore.getSession('soon'));
  await sleep(60);
  assert.equal(sessionStore.getSession('soon'), undefined);
  assert.equal(sessionStore.listSessions('u1').length, 0);
  assert.equal(sessionStore.deleteSession('u1', 'soon'), false);
});

test('a session check names its user with the newest login; profiles are replaced while sessions live', () => {
  const first = session('h1', 'u1');
  sessionStore.createSession(first, { ...profileOf(first), lastLogin: 5n }, 0, 0n);
  sessionStore.createSession(session('h2', 'u1'), { ...profileOf(first), lastLogin: 9n }, 0, 0n);
  sessionStore.createSession(session('h3', 'u1'), { ...profileOf(first), lastLogin: 7n }, 0, 0n);
  assert.equal(sessionStore.getSession('h1').user.lastLogin, 9n);
  sessionStore.putUserProfile({ ...profileOf(first), fullName: 'Renamed', lastLogin: 1n });
  assert.deepEqual(
    [sessionStore.getSession('h1').user.fullName, sessionStore.getSession('h1').user.lastLogin],
    ['Renamed', 9n],
  );
  sessionStore.putUserProfile({ ...profileOf(session('x', 'nobody')) });
  assert.equal(sessionStore.getSession('h3').user.id, 'u1');
});

test('returned sessions are copies', () => {
  sessionStore.createSession(session('h1', 'u1'), profileOf(session('h1', 'u1')), 0, 0n);
  sessionStore.getSession('h1').session.device.os = 'changed';
  assert.equal(sessionStore.getSession('h1').session.device.os, 'o');
});

test('attempt gates: at most the limit in flight, only failures count, a window ends', async () => {
  const gate = () => sessionStore.beginAttempt('k', 2, 50n);
  assert.deepEqual([gate(), gate(), gate()], [{ tag: 'admitted' }, { tag: 'admitted' }, { tag: 'busy' }]);
  sessionStore.endAttempt('k', false, 50n); // a success gives its place back
  assert.deepEqual(gate(), { tag: 'admitted' });
  sessionStore.endAttempt('k', true, 50n);
  sessionStore.endAttempt('k', true, 50n);
  const locked = gate();
  assert.equal(locked.tag, 'locked');
  assert.ok(locked.val.first && locked.val.retryAfterMs > 0n && locked.val.retryAfterMs <= 50n);
  assert.equal(gate().val.first, false, 'only the first refusal is the first');
  await sleep(80);
  assert.deepEqual(gate(), { tag: 'admitted' }, 'a new window');
  sessionStore.endAttempt('k', true, 10_000n);
  sessionStore.resetAttempts('k');
  assert.deepEqual(sessionStore.beginAttempt('k', 1, 50n), { tag: 'admitted' });
});

test('credential versions: sessions for older ones are refused', () => {
  const created = (r) => assert.equal(r.tag, 'created');
  created(sessionStore.createSession(session('v0', 'u1'), profileOf(session('v0', 'u1')), 0, 0n));
  sessionStore.setCredentialVersion('u1', 3n);
  sessionStore.setCredentialVersion('u1', 1n); // never lowered
  assert.deepEqual(sessionStore.createSession(session('v2', 'u1'), profileOf(session('v2', 'u1')), 0, 2n), { tag: 'stale' });
  assert.equal(sessionStore.getSession('v2'), undefined);
  created(sessionStore.createSession(session('v3', 'u1'), profileOf(session('v3', 'u1')), 0, 3n));
  created(sessionStore.createSession(session('other', 'u2'), profileOf(session('other', 'u2')), 0, 0n));
});

test('create-session with max-sessions ends the least recently active others', () => {
  const a = session('a', 'u1');
  const b = session('b', 'u1');
  const c = session('c', 'u1');
  a.lastActivity -= 3000n;
  b.lastActivity -= 1000n;
  c.lastActivity -= 2000n;
  const none = { tag: 'created', val: [] };
  assert.deepEqual(sessionStore.createSession(a, profileOf(a), 0, 0n), none);
  assert.deepEqual(sessionStore.createSession(b, profileOf(b), 0, 0n), none);
  assert.deepEqual(sessionStore.createSession(c, profileOf(c), 0, 0n), none);
  const d = session('d', 'u1');
  d.lastActivity -= 10_000n; // the new session is never the one to go
  assert.deepEqual(sessionStore.createSession(d, profileOf(d), 2, 0n), { tag: 'created', val: ['id-a', 'id-c'] });
  assert.deepEqual(sessionStore.listSessions('u1').map((s) => s.tokenHash).sort(), ['b', 'd']);
  assert.deepEqual(sessionStore.createSession(session('e', 'u1'), profileOf(session('e', 'u1')), 0, 0n), none, 'no limit without max-sessions');
});

test('touch-session moves last activity and may shorten, never extend, the session', async () => {
  const s = session('t', 'u1', 60_000);
  sessionStore.createSession(s, profileOf(s), 0, 0n);
  const at = BigInt(Date.now());
  assert.equal(sessionStore.touchSession('t', at, s.expiresAt + 100_000n), true);
  assert.equal(sessionStore.getSession('t').session.lastActivity, at);
  assert.equal(sessionStore.getSession('t').session.expiresAt, s.expiresAt);

  assert.equal(sessionStore.touchSession('t', at, at + 30n), true);
  await sleep(60);
  assert.equal(sessionStore.getSession('t'), undefined, 'kept only until keep-until');
  assert.equal(sessionStore.listSessions('u1').length, 0);
  assert.equal(sessionStore.touchSession('t', at, at + 60_000n), false);

  sessionStore.createSession(session('t2', 'u1'), profileOf(session('t2', 'u1')), 0, 0n);
  assert.equal(sessionStore.touchSession('t2', at, at - 1n), false, 'keep-until in the past ends it');
  assert.equal(sessionStore.getSession('t2'), undefined);
});

test('delete-other-sessions keeps one (or none) and counts the rest', () => {
  for (const h of ['x', 'y', 'z']) sessionStore.createSession(session(h, 'u1'), profileOf(session(h, 'u1')), 0, 0n);
  sessionStore.createSession(session('w', 'u2'), profileOf(session('w', 'u2')), 0, 0n);
  assert.equal(sessionStore.deleteOtherSessions('u1', 'y'), 2);
  assert.deepEqual(sessionStore.listSessions('u1').map((s) => s.tokenHash), ['y']);
  assert.equal(sessionStore.deleteOtherSessions('u1', ''), 1);
  assert.equal(sessionStore.listSessions('u1').length, 0);
  assert.equal(sessionStore.listSessions('u2').length, 1);
});

test('update-password raises the credential version; rehash yields to it; the login history', () => {
  const u = userStore.createUser(newUser());
  assert.equal(u.credentialVersion, 0n);
  assert.equal(userStore.updatePassword(u.id, '$2b$04$new'), 1n);
  assert.equal(userStore.findUserById(u.id).passwordHash, '$2b$04$new');
  assert.equal(userStore.rehashPassword(u.id, '$2b$04$old', '$2b$05$x'), false, 'not the current hash');
  assert.equal(userStore.rehashPassword(u.id, '$2b$04$new', '$2b$05$new'), true);
  assert.equal(userStore.findUserById(u.id).credentialVersion, 1n, 'a rehash keeps the version');

  const attempt = (outcome, at, email = 'ADA@example.com') => ({
    email,
    outcome,
    ipAddress: '127.0.0.1',
    userAgent: 'test',
    deviceInfo: 'Test on Test',
    location: 'Local',
    at,
  });
  const keepAll = { maxAgeMs: 1n << 50n, maxCount: 1000 };
  userStore.recordLoginAttempt(attempt('invalid-credentials', 1000n), keepAll);
  userStore.recordLoginAttempt(attempt('success', 2000n), keepAll);
  userStore.recordLoginAttempt(attempt('success', 2000n), keepAll);
  userStore.recordLoginAttempt(attempt('success', 3000n, 'nobody@example.com'), keepAll); // not kept
  assert.equal(payloadOf(() => userStore.recordLoginAttempt(attempt('maybe', 1n), keepAll)).tag, 'internal');

  const page = userStore.listLoginAttempts(u.id, 0, 2);
  assert.equal(page.total, 3n);
  assert.deepEqual(page.attempts.map((a) => [a.id, a.outcome, a.at]), [
    ['3', 'success', 2000n],
    ['2', 'success', 2000n],
  ]);
  assert.deepEqual(userStore.listLoginAttempts(u.id, 2, 2).attempts.map((a) => a.id), ['1']);
  assert.deepEqual(userStore.listLoginAttempts(u.id, 5, 2), { attempts: [], total: 3n });

  // Retention: the newest two, and nothing more than 1.5 s older than the newest.
  userStore.recordLoginAttempt(attempt('success', 3000n), { maxAgeMs: 1500n, maxCount: 2 });
  assert.deepEqual(userStore.listLoginAttempts(u.id, 0, 10).attempts.map((a) => a.at), [3000n, 2000n]);
});

test('issue-token keeps one token per account and purpose; an unknown email gets none', () => {
  const u = userStore.createUser(newUser());
  const later = BigInt(Date.now()) + 60_000n;
  assert.equal(userStore.issueToken('ADA@example.com', 'password-reset', 'r1', later).id, u.id);
  assert.equal(userStore.issueToken('ada@example.com', 'email-verification', 'v1', later).id, u.id);
  assert.equal(userStore.issueToken('ada@example.com', 'password-reset', 'r2', later).id, u.id);
  assert.equal(userStore.issueToken('nobody@example.com', 'password-reset', 'r3', later), undefined);

  const now = BigInt(Date.now());
  assert.equal(userStore.redeemToken('password-reset', 'r1', now, false), undefined, 'voided by r2');
  assert.equal(userStore.redeemToken('password-reset', 'r2', now, false).id, u.id);
  assert.equal(userStore.redeemToken('email-verification', 'v1', now, false).id, u.id, 'other purposes stay');
  assert.equal(userStore.redeemToken('password-reset', 'r3', now, false), undefined);
  assert.equal(payloadOf(() => userStore.issueToken('ada@example.com', 'login', 'x', later)).tag, 'internal');
});

test('redeem-token: consume is single-use; expired and wrong-purpose tokens are refused', () => {
  const u = userStore.createUser(newUser());
  const now = BigInt(Date.now());
  userStore.issueToken(u.email, 'password-reset', 'r', now + 60_000n);
  assert.equal(userStore.redeemToken('email-verification', 'r', now, true), undefined, 'wrong purpose');
  assert.equal(userStore.redeemToken('password-reset', 'r', now, false).id, u.id, 'still there');
  assert.equal(userStore.redeemToken('password-reset', 'r', now, true).id, u.id);
  assert.equal(userStore.redeemToken('password-reset', 'r', now, true), undefined, 'used up');
  assert.equal(userStore.redeemToken('password-reset', 'unknown', now, false), undefined);

  userStore.issueToken(u.email, 'email-verification', 'v', now + 1000n);
  assert.equal(userStore.redeemToken('email-verification', 'v', now + 1000n, true), undefined, 'expires at expires-at');
  assert.equal(userStore.redeemToken('email-verification', 'v', now + 999n, true).id, u.id);
});

test('mark-email-verified sets the flag and voids verification tokens only', () => {
  const u = userStore.createUser(newUser());
  const later = BigInt(Date.now()) + 60_000n;
  userStore.issueToken(u.email, 'email-verification', 'v', later);
  userStore.issueToken(u.email, 'password-reset', 'r', later);
  userStore.markEmailVerified(u.id);
  assert.equal(userStore.findUserById(u.id).emailVerified, true);
  assert.equal(userStore.findUserByEmail(u.email).emailVerified, true);
  const now = BigInt(Date.now());
  assert.equal(userStore.redeemToken('email-verification', 'v', now, false), undefined);
  assert.equal(userStore.redeemToken('password-reset', 'r', now, false).id, u.id);
  userStore.markEmailVerified('unknown'); // not an error
});

test('update-password voids reset tokens, not verification tokens', () => {
  const u = userStore.createUser(newUser());
  const later = BigInt(Date.now()) + 60_000n;
  userStore.issueToken(u.email, 'password-reset', 'r', later);
  userStore.issueToken(u.email, 'email-verification', 'v', later);
  assert.equal(userStore.updatePassword(u.id, '$2b$04$new'), 1n);
  const now = BigInt(Date.now());
  assert.equal(userStore.redeemToken('password-reset', 'r', now, false), undefined);
  assert.equal(userStore.redeemToken('email-verification', 'v', now, false).id, u.id);
});

test('the mailer logs each message and keeps it, oldest first', (t) => {
  const logged = t.mock.method(console, 'log', () => {});
  const message = {
    to: 'ada@example.com',
    subject: 'Reset your asm password',
    text: 'Reset your password:\nhttp://localhost/account/reset?token=abc\n',
    html: '<p>Reset</p>',
  };
  mailer.send(message);
  mailer.send({ ...message, subject: 'Second' });
  assert.deepEqual(sentMail(), [message, { ...message, subject: 'Second' }]);
  assert.equal(logged.mock.callCount(), 2);
  const line = logged.mock.calls[0].arguments.join(' ');
  assert.ok(line.includes('ada@example.com') && line.includes('Reset your asm password'));
  assert.ok(line.includes('/account/reset?token=abc'), 'the link is in the log');
  clear();
  assert.deepEqual(sentMail(), []);
});

test('geo knows no address', () => {
  assert.equal(geo.lookup('81.2.69.1'), undefined);
});

test('keyring: MACs verify for their purpose and message, under the key in use', () => {
  setSecretKey(Buffer.alloc(32, 1));
  const tag = keyring.sign('device-cookie', new Uint8Array([1, 2, 3]));
  assert.equal(tag.length, 32);
  assert.equal(keyring.verify('device-cookie', new Uint8Array([1, 2, 3]), tag), true);
  assert.equal(keyring.verify('device-cookie', new Uint8Array([1, 2, 4]), tag), false);
  assert.equal(keyring.verify('other', new Uint8Array([1, 2, 3]), tag), false);
  setSecretKey(Buffer.alloc(32, 2));
  assert.equal(keyring.verify('device-cookie', new Uint8Array([1, 2, 3]), tag), false);
});

test('sessions keep mfa, and profiles mfa-enabled, as given', () => {
  const s = { ...session('m', 'u1'), mfa: true };
  sessionStore.createSession(s, { ...profileOf(s), mfaEnabled: true }, 0, 0n);
  const found = sessionStore.getSession('m');
  assert.equal(found.session.mfa, true);
  assert.equal(found.user.mfaEnabled, true);
  assert.equal(sessionStore.listSessions('u1')[0].mfa, true);
  sessionStore.putUserProfile({ ...profileOf(s), mfaEnabled: false });
  assert.equal(sessionStore.getSession('m').user.mfaEnabled, false);
});

test('the login history takes the second-factor outcomes; mfa-login is a token purpose', () => {
  const u = userStore.createUser(newUser());
  const keepAll = { maxAgeMs: 1n << 50n, maxCount: 1000 };
  for (const [outcome, at] of [['mfa-failed', 1000n], ['recovery-code', 2000n]]) {
    userStore.recordLoginAttempt(
      { email: u.email, outcome, ipAddress: '127.0.0.1', userAgent: 't', deviceInfo: 'd', location: 'Local', at },
      keepAll,
    );
  }
  assert.deepEqual(userStore.listLoginAttempts(u.id, 0, 10).attempts.map((a) => a.outcome), ['recovery-code', 'mfa-failed']);

  const now = BigInt(Date.now());
  userStore.issueToken(u.email, 'mfa-login', 'm', now + 60_000n);
  userStore.issueToken(u.email, 'password-reset', 'r', now + 60_000n);
  assert.equal(userStore.redeemToken('password-reset', 'm', now, true), undefined, 'wrong purpose');
  assert.equal(userStore.redeemToken('mfa-login', 'm', now, true).id, u.id);
  assert.equal(userStore.redeemToken('mfa-login', 'm', now, true), undefined, 'used up');
  assert.equal(userStore.redeemToken('password-reset', 'r', now, false).id, u.id, 'other purposes stay');
});

const bytes = (...b) => new Uint8Array(b);

test('totp: begin keeps a pending secret, enable turns it on with recovery codes', () => {
  const u = userStore.createUser(newUser());
  assert.equal(userStore.enableTotp(u.id, ['h1']), false, 'no pending secret');
  assert.equal(userStore.beginTotp('unknown', bytes(1)), false, 'no such user');
  assert.equal(userStore.beginTotp(u.id, bytes(1, 2, 3)), true);
  let found = userStore.findUserById(u.id);
  assert.deepEqual([found.totpSecret, found.totpEnabled], [bytes(1, 2, 3), false]);
  assert.equal(userStore.beginTotp(u.id, bytes(4, 5)), true, 'a pending secret is replaced');
  assert.deepEqual(userStore.findUserByEmail(u.email).totpSecret, bytes(4, 5));

  assert.equal(userStore.enableTotp(u.id, ['h1', 'h2']), true);
  found = userStore.findUserById(u.id);
  assert.deepEqual([found.totpSecret, found.totpEnabled], [bytes(4, 5), true]);
  assert.equal(userStore.enableTotp(u.id, ['h3']), false, 'already on');
  assert.equal(userStore.useRecoveryCode(u.id, 'h3'), false, 'the refused enable kept the codes');
  assert.equal(userStore.beginTotp(u.id, bytes(9)), false, 'refused while on');
  assert.deepEqual(userStore.findUserById(u.id).totpSecret, bytes(4, 5), 'nothing changed');
  assert.equal(userStore.enableTotp('unknown', ['h']), false);
});

test('totp: returned secrets are copies', () => {
  const u = userStore.createUser(newUser());
  const sealed = bytes(1, 2, 3);
  userStore.beginTotp(u.id, sealed);
  sealed[0] = 9;
  userStore.findUserById(u.id).totpSecret[1] = 9;
  assert.deepEqual(userStore.findUserById(u.id).totpSecret, bytes(1, 2, 3));
});

test('totp: accept-totp-step needs a secret and a step later than the last accepted', () => {
  const u = userStore.createUser(newUser());
  assert.equal(userStore.acceptTotpStep(u.id, 5n), false, 'no secret');
  assert.equal(userStore.acceptTotpStep('unknown', 5n), false);
  userStore.beginTotp(u.id, bytes(1));
  assert.equal(userStore.acceptTotpStep(u.id, 0n), false, 'not later than none (0)');
  assert.equal(userStore.acceptTotpStep(u.id, 5n), true, 'a pending secret is enough');
  assert.equal(userStore.acceptTotpStep(u.id, 5n), false, 'the same step once');
  assert.equal(userStore.acceptTotpStep(u.id, 4n), false, 'an earlier step');
  assert.equal(userStore.acceptTotpStep(u.id, 6n), true);
  userStore.beginTotp(u.id, bytes(2)); // a new pending secret forgets the last step
  assert.equal(userStore.acceptTotpStep(u.id, 3n), true);
  userStore.enableTotp(u.id, []);
  assert.equal(userStore.acceptTotpStep(u.id, 3n), false);
  assert.equal(userStore.acceptTotpStep(u.id, 1n << 40n), true, 'u64 steps as BigInt');
  const other = userStore.createUser(newUser('b@example.com', 'b'));
  userStore.beginTotp(other.id, bytes(3));
  assert.equal(userStore.acceptTotpStep(other.id, 3n), true, 'steps are per user');
});

test('totp: recovery codes are used up once; replace only while on', () => {
  const u = userStore.createUser(newUser());
  assert.equal(userStore.replaceRecoveryCodes(u.id, ['x']), false, 'off');
  assert.equal(userStore.useRecoveryCode(u.id, 'x'), false, 'the refused replace kept none');
  userStore.beginTotp(u.id, bytes(1));
  assert.equal(userStore.replaceRecoveryCodes(u.id, ['x']), false, 'pending is not on');
  userStore.enableTotp(u.id, ['a', 'b']);
  assert.equal(userStore.useRecoveryCode(u.id, 'a'), true);
  assert.equal(userStore.useRecoveryCode(u.id, 'a'), false, 'used up');
  assert.equal(userStore.useRecoveryCode('unknown', 'b'), false);
  assert.equal(userStore.replaceRecoveryCodes(u.id, ['c', 'd']), true);
  assert.equal(userStore.useRecoveryCode(u.id, 'b'), false, 'replaced');
  assert.equal(userStore.useRecoveryCode(u.id, 'c'), true);
  assert.equal(userStore.replaceRecoveryCodes('unknown', ['e']), false);
});

test('totp: disable drops the secret, the last step and the recovery codes', () => {
  const u = userStore.createUser(newUser());
  userStore.beginTotp(u.id, bytes(1));
  userStore.acceptTotpStep(u.id, 10n);
  userStore.enableTotp(u.id, ['a']);
  userStore.disableTotp(u.id);
  const found = userStore.findUserById(u.id);
  assert.deepEqual([found.totpSecret, found.totpEnabled], [undefined, false]);
  assert.equal(userStore.useRecoveryCode(u.id, 'a'), false);
  assert.equal(userStore.acceptTotpStep(u.id, 11n), false, 'no secret');
  assert.equal(userStore.beginTotp(u.id, bytes(2)), true, 'may begin again');
  assert.equal(userStore.acceptTotpStep(u.id, 2n), true, 'the last step went too');
  userStore.disableTotp('unknown'); // not an error
});

test('keyring: sealed boxes open for their purpose only, unaltered, under the key in use', () => {
  setSecretKey(Buffer.alloc(32, 1));
  const secret = new TextEncoder().encode('twenty secret bytes!');
  const sealed = keyring.seal('totp-secret', secret);
  assert.ok(sealed instanceof Uint8Array);
  assert.ok(!Buffer.from(sealed).includes('secret'), 'the plaintext does not show');
  assert.notDeepEqual(keyring.seal('totp-secret', secret), sealed, 'a fresh nonce each time');
  assert.deepEqual(keyring.open('totp-secret', sealed), secret);
  assert.deepEqual(keyring.open('totp-secret', keyring.seal('totp-secret', new Uint8Array())), new Uint8Array());

  assert.equal(keyring.open('other', sealed), undefined, 'another purpose');
  assert.equal(keyring.open('totp-secret', keyring.seal('other', secret)), undefined, 'sealed for another purpose');
  for (let i = 0; i < sealed.length; i++) {
    const altered = new Uint8Array(sealed);
    altered[i] ^= 1;
    assert.equal(keyring.open('totp-secret', altered), undefined, `byte ${i} altered`);
  }
  assert.equal(keyring.open('totp-secret', sealed.subarray(0, sealed.length - 1)), undefined, 'cut short');
  assert.equal(keyring.open('totp-secret', sealed.subarray(0, 10)), undefined, 'cut shorter');
  assert.equal(keyring.open('totp-secret', new Uint8Array()), undefined, 'empty');
  assert.equal(keyring.open('totp-secret', keyring.sign('totp-secret', secret)), undefined, 'a MAC is no box');

  setSecretKey(Buffer.alloc(32, 2));
  assert.equal(keyring.open('totp-secret', sealed), undefined, 'another key');
  setSecretKey(Buffer.alloc(32, 1));
  assert.deepEqual(keyring.open('totp-secret', sealed), secret);
});
