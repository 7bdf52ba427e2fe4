// In-memory implementations of the component's imports `asm:auth/user-store`,
// `asm:auth/session-store` and `asm:auth/geo` (see wit/asm.wit).
//
// `npm run build` transpiles the component with `--map 'asm:auth/user-store=../stores.js#userStore'`
// (and the same for the other two), so the generated bindings import the objects exported here.
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

import { randomUUID } from 'node:crypto';

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
const OUTCOMES = new Set(['success', 'invalid-credentials', 'locked']);
/** Memory bound of this example: older entries beyond this many per user are dropped. */
const MAX_HISTORY = 1000;

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
    };
    users.set(user.id, user);
    usersByEmail.set(email, user.id);
    usersByUsername.set(username, user.id);
    return { ...user };
  }),

  findUserByEmail: op('find-user-by-email', (email) => {
    const id = usersByEmail.get(key(email));
    return id === undefined ? undefined : { ...users.get(id) };
  }),

  findUserById: op('find-user-by-id', (id) => {
    const user = users.get(id);
    return user === undefined ? undefined : { ...user };
  }),

  /** Stamps a successful login; an unknown id is not an error (as with PostgreSQL). */
  recordLogin: op('record-login', (userId, at) => {
    const user = users.get(userId);
    if (user) user.lastLogin = BigInt(at);
  }),

  /** Replaces the password hash; an unknown id is not an error (as with PostgreSQL). */
  updatePassword: op('update-password', (userId, passwordHash) => {
    const user = users.get(userId);
    if (user) user.passwordHash = passwordHash;
  }),

  /** Appends to the user's login history (attempts for unknown users are not kept). */
  recordLoginAttempt: op('record-login-attempt', (a) => {
    if (!OUTCOMES.has(a.outcome)) throw new StoreError('internal', `unknown outcome ${a.outcome}`);
    if (!users.has(a.userId)) return;
    let list = loginHistory.get(a.userId);
    if (!list) loginHistory.set(a.userId, (list = []));
    list.push({
      id: String(++loginSeq),
      userId: a.userId,
      outcome: a.outcome,
      ipAddress: a.ipAddress,
      userAgent: a.userAgent,
      deviceInfo: a.deviceInfo,
      location: a.location,
      at: BigInt(a.at),
    });
    if (list.length > MAX_HISTORY) list.splice(0, list.length - MAX_HISTORY);
  }),

  /** One page of the user's login history, newest first, and the total. */
  listLoginAttempts: op('list-login-attempts', (userId, offset, limit) => {
    const list = loginHistory.get(userId) ?? [];
    // Stored oldest first; newest first is by time, then by id (insertion order).
    const newest = list
      .map((a, i) => [a, i])
      .sort(([a, i], [b, j]) => (a.at === b.at ? j - i : a.at < b.at ? 1 : -1))
      .map(([a]) => ({ ...a }));
    return { attempts: newest.slice(offset, offset + limit), total: BigInt(list.length) };
  }),

  ping: op('ping', () => {}),
};

// ---------------------------------------------------------------------------------------------
// Sessions and login-attempt counters

/**
 * token hash -> { session, until }: the session record (times as BigInt) and when it stops
 * being kept (its `expiresAt`, or earlier after touch-session with an idle timeout).
 */
const sessions = new Map();
/** user id -> Set of token hashes: the per-user index. */
const sessionsByUser = new Map();
/** attempt key -> { count, until } with `until` in Unix ms (Number). */
const attempts = new Map();

const nowBig = () => BigInt(now());
const live = (entry, at = nowBig()) => entry.until > at;

function copySession(s) {
  return { ...s, device: { ...s.device } };
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
   * Stores the session until `expiresAt` and indexes it under its user, in one step. With
   * `maxSessions` above 0 the user's least recently active sessions beyond that many end in
   * the same step (never the new one); their public ids are returned.
   * (The older contract calls this without `maxSessions` and ignores the result.)
   */
  createSession: op('create-session', (session, maxSessions = 0) => {
    if (session.expiresAt <= nowBig()) return []; // already expired: nothing to keep
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
    return evicted;
  }),

  /** The live session with this token hash; expired ones are dropped, never returned. */
  getSession: op('get-session', (tokenHash) => {
    const entry = sessions.get(tokenHash);
    if (!entry) return undefined;
    if (!live(entry)) {
      removeSession(tokenHash);
      return undefined;
    }
    return copySession(entry.session);
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

  /** The user's live sessions, in no particular order. */
  listSessions: op('list-sessions', (userId) =>
    liveHashes(userId).map((h) => copySession(sessions.get(h).session)),
  ),

  /**
   * Counts one attempt; the first one (count 1) opens a window of `windowMs` (BigInt).
   * Returns the count including this attempt and the time left in the window.
   */
  countAttempt: op('count-attempt', (attemptKey, windowMs) => {
    const at = now();
    const window = Math.max(1, Math.min(Number(windowMs), Number.MAX_SAFE_INTEGER - at));
    let entry = attempts.get(attemptKey);
    if (!entry || entry.until <= at) {
      entry = { count: 0, until: at };
      attempts.set(attemptKey, entry);
    }
    entry.count = Math.min(entry.count + 1, 0xffff_ffff);
    if (entry.count === 1) entry.until = at + window;
    return { count: entry.count, retryAfterMs: BigInt(Math.max(0, entry.until - at)) };
  }),

  /** Takes back one attempt counted under `key`; the window is unchanged. */
  uncountAttempt: op('uncount-attempt', (attemptKey) => {
    const entry = attempts.get(attemptKey);
    if (entry && entry.until > now() && entry.count > 0) entry.count -= 1;
  }),

  /** Forgets the attempts counted under `key`. */
  resetAttempts: op('reset-attempts', (attemptKey) => {
    attempts.delete(attemptKey);
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

/** Forgets expired sessions and attempt windows; reads already ignore them, this frees memory. */
export function sweep() {
  const at = now();
  const atBig = BigInt(at);
  for (const [h, entry] of sessions) if (!live(entry, atBig)) removeSession(h);
  for (const [k, e] of attempts) if (e.until <= at) attempts.delete(k);
}

/** Empties every store (for tests). */
export function clear() {
  users.clear();
  usersByEmail.clear();
  usersByUsername.clear();
  loginHistory.clear();
  loginSeq = 0;
  sessions.clear();
  sessionsByUser.clear();
  attempts.clear();
}

/** Sizes, for logs and tests. */
export function stats() {
  return { users: users.size, sessions: sessions.size, attempts: attempts.size };
}
