"""Schemathesis hooks for scripts/api-fuzz.sh: sign every case in, and give the routes that need
a secret a real one often enough that generated requests reach the service's logic.

Loaded through SCHEMATHESIS_HOOKS. The script sets API_FUZZ_BASE_URL (the service under test) and
API_FUZZ_HOST_LOG (its log, where the host writes every mail it would send: the mailed tokens are
read from there).

- Signed in: an auth provider gives each case of an operation that takes a session a live session
  of the fuzzing account, as `Authorization: Bearer` or as the session cookie in turn (never both:
  any Authorization header wins over the cookie). Schemathesis would otherwise make up an
  Authorization header for the bearerAuth alternative, and the service rightly answers 401 to it.
  Cases that kill the session (logout, revoking it, a password reset, eviction) are noticed after
  the call, and the next case logs in again (passing the second factor if the account has turned
  TOTP on meanwhile) or, when the account cannot log in any more, registers a new one.
- Real values: in every other positive case of an operation (the first one included, per phase),
  a hook puts in the account's password, a session id of the account, a TOTP code or recovery code
  made for the account, an `mfa_token` from a login of an account with TOTP on, a mailed reset or
  verification token, or (at registration) an email and username not taken yet; the rest of the
  case stays as generated. It does so in `before_call`, right before the request is sent, since
  most of these values work once or depend on what the cases before did (schemathesis then
  re-checks whether the case is still positive). Negative cases are never touched, and the cases
  left alone still send generated passwords, codes, ids and tokens.

Everything runs in one worker (schemathesis.toml), so the state below is not shared between threads;
a lock guards it all the same.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import itertools
import os
import re
import struct
import threading
import time

import requests
import schemathesis

BASE = os.environ["API_FUZZ_BASE_URL"].rstrip("/")
HOST_LOG = os.environ["API_FUZZ_HOST_LOG"]
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
        self.token: str | None = None
        self.device: str | None = None
        self.secret: str | None = None  # the TOTP secret, once TOTP is on
        self.pending: str | None = None  # a secret drawn but not confirmed yet
        self.recovery: list[str] = []
        self.last_step = -1  # the newest TOTP step used (or spent) for this account

    def register(self) -> Account:
        body = {"email": self.email, "username": self.username, "password": self.password, "full_name": "Fuzz"}
        expect(call("POST", "/auth/register", json=body), 201)
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


def session_id(token: str) -> str:
    """The public id of the session a token names."""
    sessions = expect(call("GET", "/auth/user/sessions", token=token), 200).json()["data"]["sessions"]
    return next(s["id"] for s in sessions if s["current_session"])


class State:
    main: Account | None = None  # the account the signed-in cases act as
    mfa: Account | None = None  # an account with TOTP on, for POST /auth/login/mfa


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
    LINK = re.compile(r"/account/(verify|reset)\?token=([A-Za-z0-9_-]{43})")
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


# ---- Signing the cases in ------------------------------------------------------------------------


def takes_session(operation) -> bool:
    return bool(operation.definition.raw.get("security"))


@schemathesis.auth(refresh_interval=None)
class FuzzingSession:
    """A live session of the fuzzing account, for the operations that take one."""

    turn = itertools.count()

    def get(self, case, context):
        return live_token() if takes_session(context.operation) else None

    def set(self, case, token, context):
        if next(self.turn) % 2:
            case.cookies[COOKIE] = token
            case.headers.pop("Authorization", None)
        else:
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


def refresh_case_token(case) -> Account | None:
    """Swaps a session of ours that has ended since the case was made for a live one; the
    account the case acts as, when it is one of ours."""
    authorization = case.headers.get("Authorization")
    token = bearer(authorization) if authorization is not None else case.cookies.get(COOKIE)
    account = ISSUED.get(token) if token else None
    if account is None:
        return None
    if account is not State.main or account.token != token:
        fresh = live_token()
        if authorization is not None:
            case.headers["Authorization"] = f"Bearer {fresh}"
        else:
            case.cookies[COOKIE] = fresh
        account = State.main
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


# Emails and usernames (as the service compares them) that registrations have used.
TAKEN: set[tuple[str, str]] = set()


def taken(field: str, value) -> bool:
    return isinstance(value, str) and (field, value.strip().lower()) in TAKEN


def fresh_names(case, _account):
    """A registration whose email or username is taken already gets one of its own instead: the
    generator repeats values, and a name registered once only ever meets 409 after."""
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
}


@schemathesis.hook
def before_call(context, case, kwargs):
    with LOCK:
        account = refresh_case_token(case)
        fill = REAL_VALUES.get((case.method.upper(), case.path))
        if fill is not None and gets_real_values(case):
            fill(case, account)
        if (case.method.upper(), case.path) == ("POST", "/auth/register"):
            note_names(case)


@schemathesis.hook
def after_call(context, case, response):
    """Keeps track of what the case did to the fuzzing account."""
    with LOCK:
        token = sent_token(response.request)
        account = ISSUED.get(token) if token else None
        if account is None:
            return
        status, route = response.status_code, (case.method.upper(), case.path)
        try:
            data = response.json().get("data") if status < 300 else None
            error = response.json().get("error") if status >= 400 else None
        except ValueError:
            data = error = None
        if account.token == token and (
            (status == 401 and error == UNAUTHORIZED)
            or (route == ("POST", "/auth/logout") and status == 200)
            or (route == ("DELETE", "/auth/user/sessions/{id}") and status == 200 and data["current_session"])
        ):
            account.token = None  # ended: the next case logs in again
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
