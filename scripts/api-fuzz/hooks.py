"""Schemathesis hooks for scripts/api-fuzz.sh: sign every case in, and give the routes that need
a secret a real one often enough that generated requests reach the service's logic.

Loaded through SCHEMATHESIS_HOOKS. The script sets API_FUZZ_BASE_URL (the service under test),
API_FUZZ_HOST_LOG (its log, where the host writes every mail it would send: the mailed tokens are
read from there) and API_FUZZ_ADMIN_TOKEN (the ADMIN_TOKEN the service was started with).

- Signed in: an auth provider gives each case of an operation that takes a session a live session
  of the fuzzing account, as `Authorization: Bearer` or as the session cookie in turn (never both:
  any Authorization header wins over the cookie). Schemathesis would otherwise make up an
  Authorization header for the bearerAuth alternative, and the service rightly answers 401 to it.
  Cases that kill the session (logout, revoking it, a password reset, eviction) are noticed after
  the call, and the next case logs in again (passing the second factor if the account has turned
  TOTP on meanwhile) or, when the account cannot log in any more, registers a new one. The
  operators' routes (security `adminToken`) get the admin token as `Authorization: Bearer`
  instead: a user's session is exactly what they must refuse.
- Real values: in every other positive case of an operation (the first one included, per phase),
  a hook puts in the account's password, a session id of the account, a TOTP code or recovery code
  made for the account, an `mfa_token` from a login of an account with TOTP on, a mailed reset,
  verification or email-change token, the id of the operators' target (below), the id of an
  account of ours whose events to read (with, every other time, a cursor into them), or (at
  registration, and where an operator creates or renames an account) an email and username not
  taken yet; the rest of the case stays as generated. It does so in `before_call`, right before
  the request is sent, since most of these values work once or depend on what the cases before
  did (schemathesis then re-checks whether the case is still positive). Negative cases get no real
  values, and the cases left alone still send generated passwords, codes, ids and tokens.
- Throwaway accounts for what destroys: the operators' routes on one account get the id of a
  "target" the hooks registered for them alone (disabled, stripped of its factor, renamed or erased,
  it costs the signed-in cases nothing; once erased the next case gets a new one), and any other
  account of ours they would name is swapped for it. Every case of `DELETE /auth/user`, negative
  ones too, is moved before the call to a session of a "victim" account, since with the right
  password it erases the account it is signed in to, and schemathesis reuses values it has seen
  sent: the real password turns up in generated cases as well. The fuzzing account is never erased.
- Each operation's answers are counted, and the counts printed to stderr at exit: the warnings only
  say that some case was served, the counts say how many.

Everything runs in one worker (schemathesis.toml), so the state below is not shared between threads;
a lock guards it all the same.
"""

from __future__ import annotations

import atexit
import base64
import collections
import hashlib
import hmac
import itertools
import os
import re
import struct
import sys
import threading
import time

import requests
import schemathesis

BASE = os.environ["API_FUZZ_BASE_URL"].rstrip("/")
HOST_LOG = os.environ["API_FUZZ_HOST_LOG"]
ADMIN_TOKEN = os.environ["API_FUZZ_ADMIN_TOKEN"]
PASSWORD = "a fuzzing passphrase"
COOKIE = "session_token"
DEVICE_COOKIE = "session_token_device"
UNAUTHORIZED = "a valid session is required"
TIMEOUT = 10
STEP_SECS = 30

LOCK = threading.RLock()
SERIAL = itertools.count(1)


class FuzzSetupError(Exception):
    """A request the hooks make for themselves did not do what it must."""


def call(method: str, path: str, *, token: str | None = None, device: str | None = None, json=None):
    """One request of the hooks' own, outside schemathesis; cookies are sent only as given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cookies = {DEVICE_COOKIE: device} if device else {}
    return requests.request(method, BASE + path, json=json, headers=headers, cookies=cookies, timeout=TIMEOUT)


def expect(response, *statuses: int):
    if response.status_code not in statuses:
        request = response.request
        raise FuzzSetupError(f"{request.method} {request.path_url}: {response.status_code} {response.text[:300]}")
    return response


# ---- TOTP (RFC 6238, as the service computes it) ---------------------------------------------


def totp(secret_b32: str, step: int) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


# ---- Accounts ----------------------------------------------------------------------------------


class Account:
    """An account the hooks registered, and what they know of it."""

    def __init__(self, kind: str) -> None:
        n = next(SERIAL)
        self.email = f"fuzz.{kind}.{n}@example.com"
        self.username = f"fuzz-{kind}-{n}"
        self.password = PASSWORD
        self.id: str | None = None
        self.disabled = False  # by an operator
        self.gone = False  # erased, by its owner or by an operator
        self.token: str | None = None
        self.device: str | None = None
        self.secret: str | None = None  # the TOTP secret, once TOTP is on
        self.pending: str | None = None  # a secret drawn but not confirmed yet
        self.recovery: list[str] = []
        self.last_step = -1  # the newest TOTP step used (or spent) for this account

    def register(self) -> Account:
        body = {"email": self.email, "username": self.username, "password": self.password, "full_name": "Fuzz"}
        self.id = expect(call("POST", "/auth/register", json=body), 201).json()["data"]["id"]
        ACCOUNTS[self.id] = self
        return self

    def take_step(self, wait: bool = False) -> int | None:
        """A TOTP step the service will still take: the current one or the next (it takes one
        either side), each once per account and none older than the newest it took. With
        `wait`, sleeps until one is free (at most one step) rather than answer None."""
        step = self.last_step + 1
        while True:
            now = int(time.time()) // STEP_SECS
            if step <= now + 1:
                self.last_step = max(now, step)
                return self.last_step
            if not wait:
                return None
            time.sleep(max(0.0, (step - 1) * STEP_SECS - time.time()) + 0.05)

    def factor(self) -> dict | None:
        """A second factor to finish a login with, spent as it is handed out."""
        if self.recovery:
            return {"recovery_code": self.recovery.pop()}
        step = self.take_step() if self.secret else None
        return {"code": totp(self.secret, step)} if step is not None else None

    def password_step(self):
        credentials = {"email": self.email, "password": self.password}
        response = expect(call("POST", "/auth/login", device=self.device, json=credentials), 200)
        self.device = response.cookies.get(DEVICE_COOKIE) or self.device
        return response

    def log_in(self) -> str:
        """A new session of the account (through the second step when TOTP is on)."""
        response = self.password_step()
        data = response.json()["data"]
        if data.get("mfa_required"):
            factor = self.factor()
            if factor is None:
                raise FuzzSetupError(f"{self.email}: no second factor left")
            second_step = {"mfa_token": data["mfa_token"], **factor}
            response = expect(call("POST", "/auth/login/mfa", device=self.device, json=second_step), 200)
        token = response.cookies.get(COOKIE)
        if not token:
            raise FuzzSetupError(f"{self.email}: the login set no session cookie")
        ISSUED[token] = self
        return token

    def current_session_id(self) -> str:
        return session_id(self.token)

    def totp_off(self) -> None:
        expect(call("DELETE", "/auth/user/totp", token=self.token, json={"password": self.password}), 200)
        self.totp_turned_off()

    def totp_turned_off(self) -> None:
        # The service forgets the secret, the steps used and the recovery codes.
        self.secret, self.pending, self.recovery, self.last_step = None, None, [], -1

    def enrol(self) -> None:
        response = call("POST", "/auth/user/totp", token=self.token, json={"password": self.password})
        self.pending = expect(response, 200).json()["data"]["secret"]

    def totp_on(self) -> None:
        """Turns TOTP on with a fresh secret, through the routes a user takes."""
        if self.secret:
            return
        self.enrol()
        step = self.take_step(wait=True)
        code = {"code": totp(self.pending, step)}
        response = expect(call("POST", "/auth/user/totp/confirm", token=self.token, json=code), 200)
        self.totp_confirmed(response.json()["data"]["recovery_codes"])

    def totp_confirmed(self, codes: list[str]) -> None:
        self.secret, self.pending, self.recovery = self.pending, None, list(codes)


# Every session token the hooks obtained, and its account.
ISSUED: dict[str, Account] = {}
# Every account the hooks registered, by id: what the operators' routes do to one is noted there.
ACCOUNTS: dict[str, Account] = {}


def session_id(token: str) -> str:
    """The public id of the session a token names."""
    sessions = expect(call("GET", "/auth/user/sessions", token=token), 200).json()["data"]["sessions"]
    return next(s["id"] for s in sessions if s["current_session"])


class State:
    main: Account | None = None  # the account the signed-in cases act as
    mfa: Account | None = None  # an account with TOTP on, for POST /auth/login/mfa
    target: Account | None = None  # the account the operators' routes act on
    victim: Account | None = None  # the account DELETE /auth/user is signed in to
    mover: Account | None = None  # the account whose email changes make tokens for /auth/email/change


def forget(account: Account) -> None:
    """An account that was erased: its sessions are gone, and no case is given it again."""
    account.gone, account.token = True, None
    for role in ("main", "mfa", "target", "victim", "mover"):
        if getattr(State, role) is account:
            setattr(State, role, None)


def live_token() -> str:
    """The fuzzing account's session, logging in again (or starting a new account) when it died."""
    with LOCK:
        account = State.main
        if account is not None and account.token is not None:
            return account.token
        if account is not None:
            try:
                account.token = account.log_in()
                return account.token
            except (FuzzSetupError, requests.RequestException, KeyError, ValueError):
                pass  # the password was changed by a reset, the factors ran out, ...
        account = Account("user").register()
        account.token = account.log_in()
        State.main = account
        return account.token


def mfa_account() -> Account:
    """An account with TOTP on that still has a second factor to give."""
    with LOCK:
        account = State.mfa
        if account is None or not (account.recovery or account.last_step < int(time.time()) // STEP_SECS + 1):
            account = Account("mfa").register()
            account.token = account.log_in()
            account.totp_on()
            State.mfa = account
        return account


# ---- Mailed tokens, read from the host's log -------------------------------------------------------


class MailLog:
    ANSI = re.compile(r"\x1b\[[0-9;]*m")
    MAIL = re.compile(r"mail \(no SMTP_URL: logged, not sent\) to=(\S+) ")
    # `email`: the link of an email change, mailed to the new address (the recipient is the key).
    LINK = re.compile(r"/account/(verify|reset|email)\?token=([A-Za-z0-9_-]{43})")
    RECORD = re.compile(r"^\S*\d{4}-\d\d-\d\dT", re.M)

    def __init__(self) -> None:
        self.offset = 0
        self.pending = ""
        self.tokens: dict[tuple[str, str], str] = {}

    def read(self) -> None:
        with open(HOST_LOG, "rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        text = self.pending + self.ANSI.sub("", chunk.decode("utf-8", "replace"))
        starts = [m.start() for m in self.RECORD.finditer(text)]
        # The last record may still be being written: keep it for the next read.
        complete, self.pending = (text[: starts[-1]], text[starts[-1] :]) if starts else ("", text)
        # One record per line that starts with a timestamp; a mail's body spans the lines after.
        starts = [m.start() for m in self.RECORD.finditer(complete)] + [len(complete)]
        for start, end in zip(starts, starts[1:]):
            record = complete[start:end]
            mail, link = self.MAIL.search(record), self.LINK.search(record)
            if mail and link:
                self.tokens[(mail.group(1), link.group(1))] = link.group(2)

    def token(self, email: str, kind: str) -> str:
        """The token of the newest `kind` mail to `email` (mail is delivered after the response)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.read()
            found = self.tokens.pop((email, kind), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise FuzzSetupError(f"no {kind} mail to {email} in {HOST_LOG}")
            time.sleep(0.05)


MAILS = MailLog()


def verification_token() -> str:
    account = Account("verify").register()
    return MAILS.token(account.email, "verify")


def reset_token() -> str:
    account = Account("reset").register()
    expect(call("POST", "/auth/password/forgot", json={"email": account.email}), 202)
    return MAILS.token(account.email, "reset")


def new_address() -> str:
    return f"fuzz.moved.{next(SERIAL)}@example.com"


# The accounts of ours whose email change is pending, by the new address (a newer request of the
# same account replaces its older one, so an entry may be stale: only a confirmation tells).
EMAIL_CHANGES: dict[str, Account] = {}


def email_change_token() -> str:
    """A live email-change token: the mover asks for a new address, and the link is read from the
    mail to that address. The mover is a throwaway, so confirming its change moves no account
    the other cases log in to."""
    mover = State.mover
    if mover is None:
        mover = State.mover = Account("mover").register()
    if mover.token is None:
        mover.token = mover.log_in()
    new = new_address()
    body = {"new_email": new, "password": mover.password}
    expect(call("POST", "/auth/user/email", token=mover.token, json=body), 202)
    EMAIL_CHANGES[new] = mover
    return MAILS.token(new, "email")


# ---- Throwaway accounts, for the routes that destroy ----------------------------------------------


def operator_call(method: str, path: str):
    return call(method, path, token=ADMIN_TOKEN)


def target() -> Account:
    """The account the operators' routes act on. Only they get its id, so disabling, renaming or
    erasing it leaves every other case as it was; once erased, the next case gets a new one."""
    with LOCK:
        if State.target is None:
            State.target = Account("target").register()
        return State.target


def signed_in_target() -> Account:
    """The target enabled and with a live session, for the routes about its sessions or factor."""
    with LOCK:
        account = target()
        if account.disabled:
            expect(operator_call("POST", f"/admin/users/{account.id}/enable"), 200)
            account.disabled = False
        if account.token is None:
            try:
                account.token = account.log_in()
            except FuzzSetupError:
                State.target = None  # no second factor left: a new target is cheaper than a reset
                return signed_in_target()
        return account


def victim() -> Account:
    """The account that `DELETE /auth/user` is signed in to: the right password erases it."""
    with LOCK:
        if State.victim is None:
            State.victim = Account("victim").register()
        account = State.victim
        if account.token is None:
            account.token = account.log_in()
        return account


# ---- Signing the cases in ------------------------------------------------------------------------


def security_schemes(operation) -> set[str]:
    """The schemes an operation's security requirements name (none: a public route)."""
    return {name for requirement in operation.definition.raw.get("security") or [] for name in requirement}


def for_operators(operation) -> bool:
    return "adminToken" in security_schemes(operation)


@schemathesis.auth(refresh_interval=None)
class FuzzingSession:
    """The admin token for the operators' routes; a live session of the fuzzing account for the
    other operations that take a credential."""

    turn = itertools.count()

    def get(self, case, context):
        if for_operators(context.operation):
            return ("operator", ADMIN_TOKEN)
        return ("session", live_token()) if security_schemes(context.operation) else None

    def set(self, case, credential, context):
        kind, token = credential
        if kind == "session" and next(self.turn) % 2:
            case.cookies[COOKIE] = token
            case.headers.pop("Authorization", None)
        else:
            # The operators' routes read only the header; their cases never carry the cookie.
            case.headers["Authorization"] = f"Bearer {token}"
            case.cookies.pop(COOKIE, None)


def bearer(authorization: str) -> str | None:
    scheme, _, rest = authorization.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else None


def sent_token(request) -> str | None:
    """The session token a request carried, the way the service reads it."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return bearer(authorization)
    for part in request.headers.get("Cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def put_session(case, token: str) -> None:
    """Puts a session in the case where its own session was: the header or the cookie."""
    if case.headers.get("Authorization") is not None:
        case.headers["Authorization"] = f"Bearer {token}"
    else:
        case.cookies[COOKIE] = token


def refresh_case_token(case) -> Account | None:
    """Swaps a session of ours that has ended since the case was made for a live one; the
    account the case acts as, when it is one of ours."""
    authorization = case.headers.get("Authorization")
    token = bearer(authorization) if authorization is not None else case.cookies.get(COOKIE)
    account = ISSUED.get(token) if token else None
    if account is None:
        return None
    if account is not State.main or account.token != token:
        put_session(case, live_token())
        account = State.main
    return account


def signed_in_as_victim(case) -> Account:
    """Moves a case of `DELETE /auth/user` from the fuzzing account to the victim, whatever its
    password: schemathesis reuses the passwords it saw sent, so a "generated" one may be right."""
    account = victim()
    put_session(case, account.token)
    return account


# ---- Real values -------------------------------------------------------------------------------------

COUNTS: collections.Counter = collections.Counter()


def gets_real_values(case) -> bool:
    """Every other positive case of an operation in each phase, starting with the first."""
    meta = case.meta
    if meta is None or str(getattr(meta.generation.mode, "value", meta.generation.mode)) != "positive":
        return False
    key = (case.operation.label, str(meta.phase.name))
    COUNTS[key] += 1
    return COUNTS[key] % 2 == 1


def body_of(case) -> dict | None:
    return case.body if isinstance(case.body, dict) else None


def with_password(field: str):
    def fill(case, account):
        body = body_of(case)
        if body is not None and account is not None:
            body[field] = account.password

    return fill


def enrol_totp(case, account):
    if account is None or body_of(case) is None:
        return
    if account.secret:
        account.totp_off()  # so that the enrolment has something to do
    body_of(case)["password"] = account.password


def confirm_totp(case, account):
    body = body_of(case)
    if account is None or body is None:
        return
    if account.secret:
        account.totp_off()
    if not account.pending:
        account.enrol()
    body["code"] = totp(account.pending, account.take_step(wait=True))


def new_recovery_codes(case, account):
    if account is None or body_of(case) is None:
        return
    account.totp_on()  # only an account with TOTP on has codes to replace
    body_of(case)["password"] = account.password


REVOKED = itertools.count()


def revoke_session(case, account):
    if account is None:
        return
    if next(REVOKED) % 4 == 3:
        # Now and then the session making the request, which ends it.
        case.path_parameters["id"] = account.current_session_id()
        return
    try:
        another = account.log_in()
    except FuzzSetupError:
        return  # no second factor left to open another session with
    case.path_parameters["id"] = session_id(another)


MFA_TURNS = itertools.count()


def login_mfa(case, _account):
    body = body_of(case)
    if body is None:
        return
    mfa = mfa_account()
    body["mfa_token"] = mfa.password_step().json()["data"]["mfa_token"]
    if next(MFA_TURNS) % 3 == 2:
        return  # a real token with the generated code: a wrong code, counted
    if body.get("recovery_code") is not None and mfa.recovery:
        body["recovery_code"] = mfa.recovery.pop()
    elif body.get("code") is not None:
        step = mfa.take_step()
        if step is not None:
            body["code"] = totp(mfa.secret, step)


def reset_password(case, _account):
    body = body_of(case)
    if body is not None:
        body["token"] = reset_token()


def verify_email(case, _account):
    body = body_of(case)
    if body is not None:
        body["token"] = verification_token()


def ask_email_change(case, account):
    """The account's password and an address no account has: the change is asked for (and,
    since nothing confirms it, never made)."""
    body = body_of(case)
    if body is not None and account is not None:
        body["password"], body["new_email"] = account.password, new_address()


def confirm_email_change(case, _account):
    body = body_of(case)
    if body is not None:
        body["token"] = email_change_token()


def delete_account(case, account):
    """The victim's password (and a second factor, should it have TOTP on): the victim is erased,
    and the next case of the route gets a new one."""
    body = body_of(case)
    if body is None or account is None:
        return
    body["password"] = account.password
    factor = account.factor() if account.secret else None
    if factor is not None:
        body.pop("code", None)
        body.pop("recovery_code", None)
        body.update(factor)


def on_target(case, _account):
    case.path_parameters["id"] = target().id


def spare_our_accounts(case) -> None:
    """An operator's case that names a live account of ours other than the target (an id
    schemathesis picked up from a response, or followed a link to) gets the target instead:
    disabling or erasing the fuzzing account would end the cases that sign in with it."""
    user_id = case.path_parameters.get("id") if case.path_parameters else None
    account = ACCOUNTS.get(user_id.lower()) if isinstance(user_id, str) else None
    if account is not None and not account.gone and account is not State.target:
        on_target(case, None)


def on_signed_in_target(case, _account):
    """The target with a session, so that its sessions are there to list or end."""
    case.path_parameters["id"] = signed_in_target().id


RESETS = itertools.count()


def reset_factor(case, _account):
    """Every other time, a target with TOTP on, so that the reset has something to remove (and
    the owner is mailed); otherwise the target as it is, mostly without."""
    if next(RESETS) % 2 == 0:
        account = signed_in_target()
        account.totp_on()
    else:
        account = target()
    case.path_parameters["id"] = account.id


def rename_target(case, account):
    on_target(case, account)
    fresh_names(case, account)


EVENT_READS = itertools.count()


def events_of_ours(case, _account):
    """`GET /admin/events` filtered to an account of ours, so that the page holds events (a
    generated id names no account): in turn the fuzzing account, the operators' target and the
    account of ours erased last, whose events are emptied. Every other time also a cursor the
    service gave for that account (the `next_cursor` of its first event), so that a later page
    is read."""
    n = next(EVENT_READS)
    live_token()  # the fuzzing account exists and has signed in
    erased = [account for account in ACCOUNTS.values() if account.gone]
    accounts = [State.main, target(), *erased[-1:]]
    account = accounts[(n // 2) % len(accounts)]
    case.query["user_id"] = account.id
    if n % 2 == 1:
        first = expect(operator_call("GET", f"/admin/events?user_id={account.id}&limit=1"), 200)
        cursor = first.json()["data"]["next_cursor"]
        if cursor is not None:
            case.query["cursor"] = cursor


# Emails and usernames (as the service compares them) that registrations, accounts made by an
# operator and an operator's changes have used.
TAKEN: set[tuple[str, str]] = set()


def taken(field: str, value) -> bool:
    return isinstance(value, str) and (field, value.strip().lower()) in TAKEN


def fresh_names(case, _account):
    """A registration (or an operator's new account or change) whose email or username is taken
    already gets one of its own instead: the generator repeats values, and a name registered once
    only ever meets 409 after."""
    body = body_of(case)
    if body is None:
        return
    n = next(SERIAL)
    if taken("email", body.get("email")):
        local, _, domain = body["email"].strip().rpartition("@")
        email = f"r{n}.{local}@{domain}" if len(local) <= 64 - len(f"r{n}.") else f"r{n}@{domain}"
        body["email"] = email if len(email.encode()) <= 254 else f"r{n}@example.com"
    if taken("username", body.get("username")):
        body["username"] = f"r{n}-{body['username'].strip()}"[:50]


def note_names(case):
    body = body_of(case) or {}
    for field in ("email", "username"):
        if isinstance(body.get(field), str):
            TAKEN.add((field, body[field].strip().lower()))


REAL_VALUES = {
    ("POST", "/auth/register"): fresh_names,
    ("POST", "/auth/user/password"): with_password("current_password"),
    ("POST", "/auth/user/totp"): enrol_totp,
    ("DELETE", "/auth/user/totp"): with_password("password"),
    ("POST", "/auth/user/totp/confirm"): confirm_totp,
    ("POST", "/auth/user/recovery-codes"): new_recovery_codes,
    ("DELETE", "/auth/user/sessions/{id}"): revoke_session,
    ("POST", "/auth/login/mfa"): login_mfa,
    ("POST", "/auth/password/reset"): reset_password,
    ("POST", "/auth/email/verify"): verify_email,
    ("POST", "/auth/user/email"): ask_email_change,
    ("POST", "/auth/email/change"): confirm_email_change,
    ("DELETE", "/auth/user"): delete_account,
    ("POST", "/admin/users"): fresh_names,
    ("GET", "/admin/users/{id}"): on_target,
    ("PATCH", "/admin/users/{id}"): rename_target,
    ("DELETE", "/admin/users/{id}"): on_target,
    ("POST", "/admin/users/{id}/disable"): on_signed_in_target,
    ("POST", "/admin/users/{id}/enable"): on_target,
    ("GET", "/admin/users/{id}/sessions"): on_signed_in_target,
    ("DELETE", "/admin/users/{id}/sessions"): on_signed_in_target,
    ("DELETE", "/admin/users/{id}/mfa"): reset_factor,
    ("GET", "/admin/events"): events_of_ours,
}

# The routes whose names are noted as taken (whatever the answer: better one name too many).
NAMING = {("POST", "/auth/register"), ("POST", "/admin/users"), ("PATCH", "/admin/users/{id}")}
DELETE_ACCOUNT = ("DELETE", "/auth/user")


@schemathesis.hook
def before_call(context, case, kwargs):
    with LOCK:
        route = (case.method.upper(), case.path)
        account = refresh_case_token(case)
        if route == DELETE_ACCOUNT and account is not None:
            account = signed_in_as_victim(case)
        if case.path.startswith("/admin/users/{id}"):
            spare_our_accounts(case)
        fill = REAL_VALUES.get(route)
        if fill is not None and gets_real_values(case):
            fill(case, account)
        if route in NAMING:
            note_names(case)


def envelope(response) -> tuple[dict | None, object]:
    """The response's `data` (on success) and `error` (on failure)."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return (body.get("data") if response.status_code < 300 else None), (
        body.get("error") if response.status_code >= 400 else None
    )


def note_operator_effects(case, status: int, data) -> None:
    """What an operator's route did to an account of ours (the target, in practice)."""
    user_id = case.path_parameters.get("id") if case.path_parameters else None
    account = ACCOUNTS.get(str(user_id).lower()) if user_id is not None else None
    if account is None or status != 200:
        return
    method, path = case.method.upper(), case.path
    if path == "/admin/users/{id}" and method == "DELETE":
        forget(account)
    elif path == "/admin/users/{id}" and method == "PATCH":
        account.email, account.username = data["user"]["email"], data["user"]["username"]
    elif path.endswith("/disable"):
        account.disabled, account.token = True, None  # every session ended with it
    elif path.endswith("/enable"):
        account.disabled = False
    elif path.endswith("/sessions") and method == "DELETE":
        account.token = None
    elif path.endswith("/mfa"):
        account.totp_turned_off()


def note_session_effects(case, response, data, error) -> None:
    """What a signed-in case did to the account of ours it was signed in to."""
    token = sent_token(response.request)
    account = ISSUED.get(token) if token else None
    if account is None:
        return
    status, route = response.status_code, (case.method.upper(), case.path)
    if account.token == token and (
        (status == 401 and error == UNAUTHORIZED)
        or (route == ("POST", "/auth/logout") and status == 200)
        or (route == ("DELETE", "/auth/user/sessions/{id}") and status == 200 and data["current_session"])
    ):
        account.token = None  # ended: the next case logs in again
    if route == ("POST", "/auth/user/email") and status == 202:
        EMAIL_CHANGES[data["new_email"]] = account
    if status != 200:
        return
    body = body_of(case) or {}
    if route == ("POST", "/auth/user/password"):
        account.password = body["new_password"]
    elif route == ("POST", "/auth/user/totp"):
        account.pending = data["secret"]
    elif route == ("POST", "/auth/user/totp/confirm"):
        account.totp_confirmed(data["recovery_codes"])
    elif route == ("DELETE", "/auth/user/totp"):
        account.totp_turned_off()
    elif route == ("POST", "/auth/user/recovery-codes"):
        account.recovery = list(data["recovery_codes"])
    elif route == DELETE_ACCOUNT:
        forget(account)


# Every operation's answers, by status.
ANSWERS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@schemathesis.hook
def after_call(context, case, response):
    """Keeps track of what the case did to the accounts of ours, and counts its answer."""
    with LOCK:
        if case.method.upper() == case.operation.method.upper():  # not a probe of another method
            ANSWERS[f"{case.method.upper()} {case.path}"][response.status_code] += 1
        data, error = envelope(response)
        if case.path.startswith("/admin/users/{id}"):
            note_operator_effects(case, response.status_code, data)
        elif (case.method.upper(), case.path) == ("POST", "/auth/email/change") and response.status_code == 200:
            moved = EMAIL_CHANGES.pop(data["email"], None)
            if moved is not None:
                moved.email = data["email"]  # it logs in with the new address from now on
        note_session_effects(case, response, data, error)


@atexit.register
def report_answers() -> None:
    """Per operation: how many cases, how many were served (2xx), and every status seen."""
    if not ANSWERS:
        return
    print("\napi-fuzz: answers per operation (cases, 2xx, by status)", file=sys.stderr)
    for label in sorted(ANSWERS, key=lambda label: label.split(" ", 1)[::-1]):
        counts = ANSWERS[label]
        served = sum(n for status, n in counts.items() if 200 <= status < 300)
        statuses = " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))
        print(f"  {label:<40} {sum(counts.values()):>5} {served:>5}   {statuses}", file=sys.stderr)
