// In-memory implementations of the component's imports `asm:auth/user-store`,
// `asm:auth/session-store`, `asm:auth/geo`, `asm:auth/keyring`, `asm:auth/mailer`,
// `asm:auth/events` and `asm:auth/hashing` (see wit/asm.wit).
//
// `npm run build` transpiles the component with `--map 'asm:auth/user-store=../stores.js#userStore'`
// (and the same for the others), so the generated bindings import the objects exported here.
//
// Conventions of the jco bindings, which this file follows:
// - WIT `s64`/`u64` arrive and leave as BigInt (Unix milliseconds here); `u32` is a Number.
// - Records use camelCase fields (`token-hash` -> `tokenHash`); `option<T>` is `T | undefined`.
// - A `result<T, store-error>` import returns T for `ok`, and for `err` throws a value whose
//   own `payload` property is the variant, e.g. `{ tag: 'conflict', val: 'email' }`
//   (the generated code reads `e.payload`; a plain `Error` without one escapes through the guest
//   like a trap, which is why every operation below is wrapped in `op`).
//
// Every operation is synchronous, so it runs to completion before any other JavaScript (and so
// before any other request) sees the state: each one is atomic, like the Lua scripts of the
// Redis store and the statements of the PostgreSQL store. Data lives as long as the process.

import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** The error a store operation throws; jco lowers `payload` into `store-error`. */
export class StoreError extends Error {
  constructor(tag, val) {
    super(`${tag}: ${val}`);
    this.name = 'StoreError';
    this.payload = { tag, val };
  }
}

/** Runs one operation; anything unexpected becomes `internal` instead of trapping the guest. */
function op(name, fn) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof StoreError) throw e;
      console.error(`store ${name} failed:`, e);
      throw new StoreError('internal', `memory store ${name}: ${e?.message ?? e}`);
    }
  };
}

const now = () => Date.now();

// ---------------------------------------------------------------------------------------------
// Users

/** id -> user record (times as BigInt, as the bindings expect them). */
const users = new Map();
/** lower-cased email -> id, and lower-cased username -> id: the two unique indexes. */
const usersByEmail = new Map();
const usersByUsername = new Map();

const key = (s) => String(s).toLowerCase();

/** user id -> login attempts, oldest first; ids count up like PostgreSQL's bigserial. */
const loginHistory = new Map();
let loginSeq = 0;
// The WIT enum `login-outcome`, as jco passes its cases.
const OUTCOMES = new Set(['success', 'invalid-credentials', 'locked', 'recovery-code', 'mfa-failed']);

/** token hash -> { purpose, userId, expiresAt (BigInt) }: the mailed tokens. */
const tokens = new Map();
// The WIT enum `token-purpose`, as jco passes its cases.
const PURPOSES = new Set(['password-reset', 'email-verification', 'mfa-login', 'email-change']);

/** user id -> the last accepted TOTP step (BigInt); none until one is accepted. */
const totpSteps = new Map();
/** user id -> the hashes of the unused recovery codes. */
const recoveryCodes = new Map();

/** A copy of a user record, its sealed TOTP secret (a Uint8Array) included. */
function copyUser(user) {
  return { ...user, totpSecret: user.totpSecret === undefined ? undefined : new Uint8Array(user.totpSecret) };
}

function checkPurpose(purpose) {
  if (!PURPOSES.has(purpose)) throw new StoreError('internal', `unknown token purpose ${purpose}`);
}

/** Voids the user's tokens of this purpose. */
function voidTokens(userId, purpose) {
  for (const [h, t] of tokens) if (t.userId === userId && t.purpose === purpose) tokens.delete(h);
}

/** Newest first: by time, then by id (insertion order), as the SQL stores order them. */
function newestFirst(list) {
  return list
    .map((a, i) => [a, i])
    .sort(([a, i], [b, j]) => (a.at === b.at ? j - i : a.at < b.at ? 1 : -1))
    .map(([a]) => a);
}

export const userStore = {
  /** Inserts a user; a taken email or username (case-insensitive) is `conflict` naming it. */
  createUser: op('create-user', (nu) => {
    const email = key(nu.email);
    const username = key(nu.username);
    if (usersByEmail.has(email)) throw new StoreError('conflict', 'email');
    if (usersByUsername.has(username)) throw new StoreError('conflict', 'username');
    const user = {
      id: randomUUID(),
      email: nu.email,
      username: nu.username,
      fullName: nu.fullName,
      passwordHash: nu.passwordHash,
      createdAt: BigInt(now()),
      lastLogin: undefined,
      credentialVersion: 0n,
      emailVerified: false,
      totpSecret: undefined,
      totpEnabled: false,
      devicesIssued: 0n,
      disabled: false,
    };
    users.set(user.id, user);
    usersByEmail.set(email, user.id);
    usersByUsername.set(username, user.id);
    return copyUser(user);
  }),

  findUserByEmail: op('find-user-by-email', (email) => {
    const id = usersByEmail.get(key(email));
    return id === undefined ? undefined : copyUser(users.get(id));
  }),

  findUserById: op('find-user-by-id', (id) => {
    const user = users.get(id);
    return user === undefined ? undefined : copyUser(user);
  }),

  /**
   * Stamps a successful login and counts its device cookie; the new count (0 for an unknown id,
   * which is not an error, as with PostgreSQL).
   */
  recordLogin: op('record-login', (userId, at) => {
    const user = users.get(userId);
    if (!user) return 0n;
    user.lastLogin = BigInt(at);
    user.devicesIssued += 1n;
    return user.devicesIssued;
  }),

  /**
   * Replaces the password hash, raises the credential version and voids the user's reset
   * tokens; returns the new version (0 for an unknown id, which is not an error, as with
   * PostgreSQL).
   */
  updatePassword: op('update-password', (userId, passwordHash) => {
    const user = users.get(userId);
    if (!user) return 0n;
    user.passwordHash = passwordHash;
    user.credentialVersion += 1n;
    voidTokens(userId, 'password-reset');
    voidTokens(userId, 'mfa-login');
    return user.credentialVersion;
  }),

  /** Replaces the hash only while it is still `currentHash`; true when replaced. */
  rehashPassword: op('rehash-password', (userId, currentHash, newHash) => {
    const user = users.get(userId);
    if (!user || user.passwordHash !== currentHash) return false;
    user.passwordHash = newHash;
    return true;
  }),

  /**
   * Appends to the history of the account with the attempt's email (none kept for an email
   * without one), then drops what `retention` does not keep.
   */
  recordLoginAttempt: op('record-login-attempt', (a, retention) => {
    if (!OUTCOMES.has(a.outcome)) throw new StoreError('internal', `unknown outcome ${a.outcome}`);
    const userId = usersByEmail.get(key(a.email));
    if (userId === undefined) return;
    let list = loginHistory.get(userId);
    if (!list) loginHistory.set(userId, (list = []));
    list.push({
      id: String(++loginSeq),
      userId,
      outcome: a.outcome,
      ipAddress: a.ipAddress,
      userAgent: a.userAgent,
      deviceInfo: a.deviceInfo,
      location: a.location,
      at: BigInt(a.at),
    });
    const oldest = BigInt(a.at) - BigInt(retention.maxAgeMs);
    const kept = newestFirst(list).filter((e) => e.at >= oldest).slice(0, retention.maxCount);
    const keep = new Set(kept.map((e) => e.id));
    loginHistory.set(userId, list.filter((e) => keep.has(e.id)));
  }),

  /** One page of the user's login history, newest first, and the total. */
  listLoginAttempts: op('list-login-attempts', (userId, offset, limit) => {
    const list = loginHistory.get(userId) ?? [];
    const newest = newestFirst(list).map((a) => ({ ...a }));
    return { attempts: newest.slice(offset, offset + limit), total: BigInt(list.length) };
  }),

  /**
   * Keeps `tokenHash` for the account with this email (case-insensitive), valid for `purpose`
   * until `expiresAt`, voiding the account's older tokens of that purpose. The account, or none
   * when the email has none.
   */
  issueToken: op('issue-token', (email, purpose, tokenHash, expiresAt) => {
    checkPurpose(purpose);
    const id = usersByEmail.get(key(email));
    if (id === undefined) return undefined;
    voidTokens(id, purpose);
    tokens.set(tokenHash, { purpose, userId: id, expiresAt: BigInt(expiresAt) });
    return copyUser(users.get(id));
  }),

  /**
   * The account an unexpired token (`expiresAt` after `at`) of `purpose` with this hash is
   * for; with `consume` the token is deleted in the same step, so one redemption gets it.
   */
  redeemToken: op('redeem-token', (purpose, tokenHash, at, consume) => {
    checkPurpose(purpose);
    const token = tokens.get(tokenHash);
    if (!token || token.purpose !== purpose || token.expiresAt <= BigInt(at)) return undefined;
    if (consume) tokens.delete(tokenHash);
    const user = users.get(token.userId);
    return user === undefined ? undefined : copyUser(user);
  }),

  /** Marks the email verified and voids the user's verification tokens (an unknown id: no-op). */
  markEmailVerified: op('mark-email-verified', (userId) => {
    const user = users.get(userId);
    if (user) user.emailVerified = true;
    voidTokens(userId, 'email-verification');
  }),

  /**
   * Keeps `sealedSecret` (a Uint8Array from `keyring.seal`) as the user's pending TOTP secret
   * and forgets the last accepted step, unless TOTP is on. False when it is on (nothing
   * changes) or there is no such user.
   */
  beginTotp: op('begin-totp', (userId, sealedSecret) => {
    const user = users.get(userId);
    if (!user || user.totpEnabled) return false;
    user.totpSecret = new Uint8Array(sealedSecret);
    totpSteps.delete(userId);
    return true;
  }),

  /**
   * Turns TOTP on with the pending secret and replaces the recovery codes with these hashes,
   * in one step. False when there is no pending secret or TOTP is already on.
   */
  enableTotp: op('enable-totp', (userId, recoveryCodeHashes) => {
    const user = users.get(userId);
    if (!user || user.totpEnabled || user.totpSecret === undefined) return false;
    user.totpEnabled = true;
    recoveryCodes.set(userId, [...recoveryCodeHashes]);
    return true;
  }),

  /** Turns TOTP off: the secret, the last accepted step and every recovery code go. */
  disableTotp: op('disable-totp', (userId) => {
    const user = users.get(userId);
    if (user) {
      user.totpSecret = undefined;
      user.totpEnabled = false;
    }
    totpSteps.delete(userId);
    recoveryCodes.delete(userId);
  }),

  /** Replaces the recovery codes while TOTP is on; false when it is off (or no such user). */
  replaceRecoveryCodes: op('replace-recovery-codes', (userId, recoveryCodeHashes) => {
    if (!users.get(userId)?.totpEnabled) return false;
    recoveryCodes.set(userId, [...recoveryCodeHashes]);
    return true;
  }),

  /**
   * Records `step` (BigInt) as the last accepted TOTP step if the user has a secret (pending or
   * in use) and the step is later than the recorded one; true when recorded. Synchronous, so
   * of parallel submissions of one code exactly one gets true.
   */
  acceptTotpStep: op('accept-totp-step', (userId, step) => {
    if (users.get(userId)?.totpSecret === undefined) return false;
    if (BigInt(step) <= (totpSteps.get(userId) ?? 0n)) return false;
    totpSteps.set(userId, BigInt(step));
    return true;
  }),

  /** Uses up the recovery code with this hash; true when it existed. */
  useRecoveryCode: op('use-recovery-code', (userId, codeHash) => {
    const codes = recoveryCodes.get(userId);
    if (!codes) return false;
    const left = codes.filter((c) => c !== codeHash);
    recoveryCodes.set(userId, left);
    return left.length < codes.length;
  }),

  /**
   * Accounts whose email or username starts with `query` (case-insensitive), oldest first, at
   * most `limit`, after the cursor `after` (`<created at>:<id>`, or undefined for the first page).
   */
  searchUsers: op('search-users', (query, limit, after) => {
    const q = key(query);
    const cursor = (u) => `${String(u.createdAt).padStart(20, '0')}:${u.id}`;
    const found = [...users.values()]
      .filter((u) => key(u.email).startsWith(q) || key(u.username).startsWith(q))
      .filter((u) => after === undefined || cursor(u) > after)
      .sort((a, b) => (cursor(a) < cursor(b) ? -1 : 1));
    const n = Math.max(1, limit);
    return {
      users: found.slice(0, n).map(copyUser),
      next: found.length > n ? cursor(found[n - 1]) : undefined,
    };
  }),

  /**
   * Changes the given fields (undefined: unchanged); a taken email or username is `conflict`
   * naming it. A new email is unverified unless `emailVerified` says otherwise.
   */
  updateUser: op('update-user', (userId, changes) => {
    const user = users.get(userId);
    if (!user) return undefined;
    const { email, username, fullName, emailVerified } = changes;
    const taken = (index, value) => value !== undefined && (index.get(key(value)) ?? userId) !== userId;
    if (taken(usersByEmail, email)) throw new StoreError('conflict', 'email');
    if (taken(usersByUsername, username)) throw new StoreError('conflict', 'username');
    if (email !== undefined) {
      if (key(email) !== key(user.email)) user.emailVerified = false;
      usersByEmail.delete(key(user.email));
      usersByEmail.set(key(email), userId);
      user.email = email;
    }
    if (username !== undefined) {
      usersByUsername.delete(key(user.username));
      usersByUsername.set(key(username), userId);
      user.username = username;
    }
    if (fullName !== undefined) user.fullName = fullName;
    if (emailVerified !== undefined) user.emailVerified = emailVerified;
    return copyUser(user);
  }),

  /** Disables or enables the account and raises its credential version; the new version. */
  setDisabled: op('set-disabled', (userId, disabled) => {
    const user = users.get(userId);
    if (!user) return undefined;
    user.disabled = disabled;
    user.credentialVersion += 1n;
    // No link mailed before opens a disabled account later.
    if (disabled) for (const [h, t] of tokens) if (t.userId === userId) tokens.delete(h);
    return user.credentialVersion;
  }),

  /** Erases the account, its history, tokens, second factor and mail queued to it. */
  deleteUser: op('delete-user', (userId) => {
    const user = users.get(userId);
    if (!user) return false;
    users.delete(userId);
    usersByEmail.delete(key(user.email));
    usersByUsername.delete(key(user.username));
    loginHistory.delete(userId);
    for (const [h, t] of tokens) if (t.userId === userId) tokens.delete(h);
    totpSteps.delete(userId);
    recoveryCodes.delete(userId);
    for (let i = outbox.length - 1; i >= 0; i--) if (key(outbox[i].to) === key(user.email)) outbox.splice(i, 1);
    // The account's events keep their id, type and time, nothing that names the person.
    for (const e of eventLog) {
      if (e.userId === userId) {
        e.ipAddress = '';
        e.data = '{}';
      }
    }
    return true;
  }),

  /** Keeps a pending change of the account's email to `newEmail` under this token hash. */
  beginEmailChange: op('begin-email-change', (userId, newEmail, tokenHash, expiresAt) => {
    if (!users.has(userId)) return false;
    voidTokens(userId, 'email-change');
    tokens.set(tokenHash, { purpose: 'email-change', userId, expiresAt: BigInt(expiresAt), detail: newEmail });
    return true;
  }),

  /**
   * Uses up a pending email change and makes its email the account's, verified; `conflict`
   * (the token kept) when another account has it by now. Without `apply`, only says so.
   */
  confirmEmailChange: op('confirm-email-change', (tokenHash, at, apply) => {
    const token = tokens.get(tokenHash);
    if (!token || token.purpose !== 'email-change' || token.expiresAt <= BigInt(at)) return undefined;
    const user = users.get(token.userId);
    if (!user) return undefined;
    if ((usersByEmail.get(key(token.detail)) ?? user.id) !== user.id) throw new StoreError('conflict', 'email');
    // Without `apply`: what applying would answer, changing nothing.
    if (!apply) return { user: { ...copyUser(user), email: token.detail, emailVerified: true }, previousEmail: user.email };
    tokens.delete(tokenHash);
    const previousEmail = user.email;
    usersByEmail.delete(key(user.email));
    usersByEmail.set(key(token.detail), user.id);
    user.email = token.detail;
    user.emailVerified = true;
    return { user: copyUser(user), previousEmail };
  }),

  ping: op('ping', () => {}),
};

// ---------------------------------------------------------------------------------------------
// Sessions and login-attempt counters

/**
 * token hash -> { session, until }: the session record (times as BigInt; `mfa` says whether its
 * login passed a second factor) and when it stops being kept (its `expiresAt`, or earlier after
 * touch-session with an idle timeout).
 */
const sessions = new Map();
/** user id -> Set of token hashes: the per-user index. */
const sessionsByUser = new Map();
/** user id -> the lowest credential version (BigInt) a new session may have. */
const credentialVersions = new Map();
/**
 * user id -> what a session check shows of the account (`user-profile`, `mfaEnabled` included),
 * while it has sessions.
 */
const profiles = new Map();
/**
 * attempt key -> { failures, inFlight, windowEnd, refused } (Numbers, times in Unix ms): a
 * login-attempt counter. Failures count within the window that the first one opened.
 */
const attempts = new Map();

const nowBig = () => BigInt(now());
const live = (entry, at = nowBig()) => entry.until > at;

function copySession(s) {
  return { ...s, device: { ...s.device } };
}

/** Keeps the profile, with the newest last login it has been given. */
function keepProfile(user) {
  const known = profiles.get(user.id)?.lastLogin;
  const lastLogin = known !== undefined && (user.lastLogin === undefined || known > user.lastLogin) ? known : user.lastLogin;
  profiles.set(user.id, { ...user, lastLogin });
}

function removeSession(tokenHash) {
  const entry = sessions.get(tokenHash);
  if (!entry) return;
  sessions.delete(tokenHash);
  const index = sessionsByUser.get(entry.session.userId);
  if (index) {
    index.delete(tokenHash);
    if (index.size === 0) sessionsByUser.delete(entry.session.userId);
  }
}

/** The user's live sessions' token hashes, dropping expired ones and stale index entries. */
function liveHashes(userId) {
  const index = sessionsByUser.get(userId);
  if (!index) return [];
  const at = nowBig();
  for (const h of [...index]) {
    const entry = sessions.get(h);
    if (!entry) index.delete(h);
    else if (!live(entry, at)) removeSession(h);
  }
  if (index.size === 0) sessionsByUser.delete(userId);
  return [...index];
}

export const sessionStore = {
  /**
   * Stores the session until `expiresAt` and indexes it under its user, in one step, unless
   * the user's credentials changed since `credentialVersion` (`stale`). With `maxSessions`
   * above 0 the user's least recently active sessions beyond that many end in the same step
   * (never the new one); their public ids are returned.
   */
  createSession: op('create-session', (session, user, maxSessions, credentialVersion) => {
    if ((credentialVersions.get(session.userId) ?? 0n) > credentialVersion) return { tag: 'stale' };
    if (session.expiresAt <= nowBig()) return { tag: 'created', val: [] }; // already expired
    keepProfile(user);
    removeSession(session.tokenHash); // a reused hash replaces the old session
    sessions.set(session.tokenHash, { session: copySession(session), until: session.expiresAt });
    let index = sessionsByUser.get(session.userId);
    if (!index) sessionsByUser.set(session.userId, (index = new Set()));
    index.add(session.tokenHash);

    const hashes = liveHashes(session.userId);
    const evicted = [];
    if (maxSessions > 0 && hashes.length > maxSessions) {
      const oldestFirst = hashes
        .filter((h) => h !== session.tokenHash)
        .map((h) => sessions.get(h).session)
        .sort((a, b) => (a.lastActivity === b.lastActivity ? 0 : a.lastActivity < b.lastActivity ? -1 : 1));
      for (const s of oldestFirst.slice(0, hashes.length - maxSessions)) {
        removeSession(s.tokenHash);
        evicted.push(s.id);
      }
    }
    return { tag: 'created', val: evicted };
  }),

  /**
   * The live session with this token hash and its user's profile; expired ones are dropped,
   * never returned.
   */
  getSession: op('get-session', (tokenHash) => {
    const entry = sessions.get(tokenHash);
    if (!entry) return undefined;
    if (!live(entry)) {
      removeSession(tokenHash);
      return undefined;
    }
    const profile = profiles.get(entry.session.userId);
    return { session: copySession(entry.session), user: profile ? { ...profile } : undefined };
  }),

  /** Replaces the profile kept for the user's sessions, if the user has live sessions. */
  putUserProfile: op('put-user-profile', (user) => {
    if (liveHashes(user.id).length > 0) keepProfile(user);
  }),

  /**
   * Sets `lastActivity` to `at` and keeps the session only until `keepUntil` (never past its
   * `expiresAt`). False when the session no longer exists.
   */
  touchSession: op('touch-session', (tokenHash, at, keepUntil) => {
    const entry = sessions.get(tokenHash);
    if (!entry) return false;
    const current = nowBig();
    if (keepUntil <= current || !live(entry, current)) {
      removeSession(tokenHash);
      return false;
    }
    entry.session.lastActivity = BigInt(at);
    entry.until = keepUntil < entry.session.expiresAt ? BigInt(keepUntil) : entry.session.expiresAt;
    return true;
  }),

  /** Removes the session and its index entry, in one step; true when a live one existed. */
  deleteSession: op('delete-session', (userId, tokenHash) => {
    const entry = sessions.get(tokenHash);
    const existed = entry !== undefined && live(entry);
    removeSession(tokenHash);
    const index = sessionsByUser.get(userId);
    if (index) {
      index.delete(tokenHash);
      if (index.size === 0) sessionsByUser.delete(userId);
    }
    return existed;
  }),

  /** Removes every session of the user but `keepTokenHash` (none when empty); how many ended. */
  deleteOtherSessions: op('delete-other-sessions', (userId, keepTokenHash) => {
    let ended = 0;
    for (const h of liveHashes(userId)) {
      if (h === keepTokenHash) continue;
      removeSession(h);
      ended += 1;
    }
    return ended;
  }),

  /** Removes every session of the user; how many were live. */
  deleteUserSessions: op('delete-user-sessions', (userId) => {
    const hashes = liveHashes(userId);
    for (const h of hashes) removeSession(h);
    return hashes.length;
  }),

  /** The user's live sessions, in no particular order. */
  listSessions: op('list-sessions', (userId) =>
    liveHashes(userId).map((h) => copySession(sessions.get(h).session)),
  ),

  /** From now on refuses sessions for versions below `version` (never lowers it). */
  setCredentialVersion: op('set-credential-version', (userId, version) => {
    const known = credentialVersions.get(userId) ?? 0n;
    if (version > known) credentialVersions.set(userId, version);
  }),

  /**
   * Admits a password check unless `limit` failures are in the window, or failures and checks
   * in flight together could reach it.
   */
  beginAttempt: op('begin-attempt', (attemptKey, limit, _windowMs) => {
    const at = now();
    let entry = attempts.get(attemptKey);
    if (!entry) attempts.set(attemptKey, (entry = { failures: 0, inFlight: 0, windowEnd: 0, refused: 0 }));
    const failures = entry.windowEnd > at ? entry.failures : 0;
    if (failures >= limit) {
      entry.refused += 1;
      return { tag: 'locked', val: { retryAfterMs: BigInt(entry.windowEnd - at), first: entry.refused === 1 } };
    }
    if (failures + entry.inFlight >= limit) return { tag: 'busy' };
    entry.inFlight += 1;
    return { tag: 'admitted' };
  }),

  /** Reports an admitted check's end; the first failure opens a window of `windowMs` (BigInt). */
  endAttempt: op('end-attempt', (attemptKey, failed, windowMs) => {
    const at = now();
    let entry = attempts.get(attemptKey);
    if (!entry) attempts.set(attemptKey, (entry = { failures: 0, inFlight: 0, windowEnd: 0, refused: 0 }));
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    if (!failed) return;
    if (entry.windowEnd > at) {
      entry.failures += 1;
    } else {
      const window = Math.max(1, Math.min(Number(windowMs), Number.MAX_SAFE_INTEGER - at));
      Object.assign(entry, { failures: 1, windowEnd: at + window, refused: 0 });
    }
  }),

  /** Erases every session, the index and the profile of the user (the credential version stays). */
  eraseUser: op('erase-user', (userId) => {
    const hashes = liveHashes(userId);
    for (const h of sessionsByUser.get(userId) ?? []) sessions.delete(h);
    sessionsByUser.delete(userId);
    profiles.delete(userId);
    return hashes.length;
  }),

  /** Forgets the counter `key` altogether. */
  forgetAttempts: op('forget-attempts', (attemptKey) => {
    attempts.delete(attemptKey);
  }),

  /** Forgets the failures counted under `key`; checks in flight stay counted. */
  resetAttempts: op('reset-attempts', (attemptKey) => {
    const entry = attempts.get(attemptKey);
    if (entry) Object.assign(entry, { failures: 0, windowEnd: 0, refused: 0 });
  }),

  ping: op('ping', () => {}),
};

// ---------------------------------------------------------------------------------------------
// Geo: no database in this example, so every address is unknown (locations read `Unknown`;
// loopback and private addresses read `Local` without asking).

export const geo = {
  lookup: (_ip) => undefined,
};

// ---------------------------------------------------------------------------------------------
// Keyring: MACs and sealed boxes under this process's key (ASM_SECRET_KEY, base64, or a random
// one per process: then device cookies and sealed TOTP secrets last as long as the process),
// a key derived per purpose as the native host derives it.

let secretKey = null;

/** Sets the key (bytes); `null` picks a random one. */
export function setSecretKey(bytes) {
  secretKey = bytes ?? null;
}

function masterKey() {
  if (secretKey === null) secretKey = Buffer.from(randomUUID() + randomUUID());
  return secretKey;
}

function mac(purpose, message) {
  const derived = createHmac('sha256', masterKey()).update(`asm-keyring/${purpose}`).digest();
  return createHmac('sha256', derived).update(message).digest();
}

// Sealed boxes: a format byte, a 12-byte random nonce, the ChaCha20-Poly1305 ciphertext, then
// its 16-byte tag, under a key derived for the purpose as the native host derives it (HMAC-SHA256
// of `asm-keyring/seal/<purpose>`); the purpose's name is also the associated data. node:crypto
// has no XChaCha20-Poly1305 (the native host's format 1), so this example's boxes are format 2:
// neither host opens the other's, which is moot while this one keeps everything in memory.
const SEAL_FORMAT = 2;
const SEAL_CIPHER = 'chacha20-poly1305';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function sealKey(purpose) {
  return createHmac('sha256', masterKey()).update(`asm-keyring/seal/${purpose}`).digest();
}

function seal(purpose, plaintext) {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(SEAL_CIPHER, sealKey(purpose), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(purpose, 'utf8'), { plaintextLength: plaintext.length });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.from([SEAL_FORMAT]), nonce, body, cipher.getAuthTag()]));
}

/** The plaintext, or undefined for anything this key did not seal for `purpose` (never throws). */
function open(purpose, sealed) {
  const bytes = Buffer.from(sealed);
  if (bytes.length < 1 + NONCE_BYTES + TAG_BYTES || bytes[0] !== SEAL_FORMAT) return undefined;
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  const body = bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv(SEAL_CIPHER, sealKey(purpose), nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(purpose, 'utf8'), { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    return undefined; // altered, or sealed for another purpose or under another key
  }
}

// Not wrapped in `op`: the keyring's functions return no `result`, so a throw would trap the
// guest; none of these throws.
export const keyring = {
  sign: (purpose, message) => new Uint8Array(mac(purpose, message)),
  verify: (purpose, message, tag) => {
    const expected = mac(purpose, message);
    return tag.length === expected.length && timingSafeEqual(expected, Buffer.from(tag));
  },
  seal,
  open,
};

// ---------------------------------------------------------------------------------------------
// Hashing turns: the component runs one request at a time here, so every hash gets its turn at
// once (a production embedding that runs several instances would bound them).

export const hashing = {
  begin: () => true,
  end: () => {},
};

// ---------------------------------------------------------------------------------------------
// Mailer: no outbox and no mail server in this example. Each message is written to the log,
// link included, and the newest MAIL_KEPT are kept in memory for tests.

const MAIL_KEPT = 100;
/** The messages handed to `send`, oldest first. */
const outbox = [];

export const mailer = {
  send: op('send', (message) => {
    const { to, subject, text, html } = message;
    console.log(`mail to ${to}: ${subject} (logged, not sent)\n${text}`);
    outbox.push({ to, subject, text, html });
    if (outbox.length > MAIL_KEPT) outbox.splice(0, outbox.length - MAIL_KEPT);
  }),
};

/** The events, oldest first (the newest EVENTS_KEPT); ids count up from 1 (BigInt: WIT `s64`). */
const eventLog = [];
let eventSeq = 0n;
const EVENTS_KEPT = 100_000;
// The WIT enum `event-type`, as jco passes its cases.
const EVENT_TYPES = new Set([
  'user-created', 'user-email-verified', 'user-email-changed', 'user-password-changed', 'user-password-reset',
  'user-disabled', 'user-enabled', 'user-deleted', 'session-created', 'session-revoked', 'login-failed',
  'login-locked', 'mfa-enabled', 'mfa-disabled', 'passkey-added', 'passkey-removed', 'identity-linked',
  'identity-unlinked',
]);

/**
 * `asm:auth/events`: the audit trail, kept in memory. This example posts no webhooks: a
 * deployment that wants them runs the native host (WEBHOOK_URL).
 */
export const events = {
  append: op('append', (event) => {
    if (!EVENT_TYPES.has(event.eventType)) throw new StoreError('internal', `unknown event type ${event.eventType}`);
    eventSeq += 1n;
    const { eventType, userId, ipAddress, data } = event;
    eventLog.push({ id: eventSeq, eventType, userId, at: BigInt(event.at), ipAddress, data });
    if (eventLog.length > EVENTS_KEPT) eventLog.splice(0, eventLog.length - EVENTS_KEPT);
    return eventSeq;
  }),

  /** Takes back an event whose change did not happen. */
  withdraw: op('withdraw', (id) => {
    const at = eventLog.findIndex((e) => e.id === BigInt(id));
    if (at >= 0) eventLog.splice(at, 1);
  }),

  /** Newest first, at most `limit`, below the cursor (an id) of an earlier page. */
  listEvents: op('list-events', (filter, limit, after) => {
    const before = after === undefined || !/^[0-9]+$/.test(after) ? undefined : BigInt(after);
    const max = Math.max(1, limit);
    const found = [];
    for (let i = eventLog.length - 1; i >= 0 && found.length <= max; i--) {
      const e = eventLog[i];
      if (before !== undefined && e.id >= before) continue;
      if (filter.userId !== undefined && e.userId !== filter.userId) continue;
      if (filter.eventType !== undefined && e.eventType !== filter.eventType) continue;
      found.push({ ...e });
    }
    const next = found.length > max ? String(found[max - 1].id) : undefined;
    return { events: found.slice(0, max), next };
  }),
};

/** Copies of the mail handed to the mailer, oldest first. */
export function sentMail() {
  return outbox.map((m) => ({ ...m }));
}

// ---------------------------------------------------------------------------------------------

/**
 * Forgets expired sessions, attempt windows and tokens; reads already ignore them, this frees
 * memory.
 */
export function sweep() {
  const at = now();
  const atBig = BigInt(at);
  for (const [h, entry] of sessions) if (!live(entry, atBig)) removeSession(h);
  for (const [k, e] of attempts) if (e.windowEnd <= at && e.inFlight === 0) attempts.delete(k);
  for (const [h, t] of tokens) if (t.expiresAt <= atBig) tokens.delete(h);
}

/** Empties every store (for tests). */
export function clear() {
  users.clear();
  usersByEmail.clear();
  usersByUsername.clear();
  loginHistory.clear();
  loginSeq = 0;
  tokens.clear();
  totpSteps.clear();
  recoveryCodes.clear();
  sessions.clear();
  sessionsByUser.clear();
  credentialVersions.clear();
  profiles.clear();
  attempts.clear();
  outbox.length = 0;
  eventLog.length = 0;
}

/** Sizes, for logs and tests. */
export function stats() {
  return { users: users.size, sessions: sessions.size, attempts: attempts.size };
}
