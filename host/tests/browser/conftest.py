"""Fixtures of the browser tests: the release host running the real component on PostgreSQL and
Redis, a real SMTP server (aiosmtpd) that keeps what the service mails, the JSON API for set-up,
and Debian's Chromium driven by Playwright.

Run through scripts/browser-test.sh (`make test-browser`), which installs what is missing."""

import base64
import email
import email.policy
import hmac
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[3]
HOST_BIN = Path(os.environ.get("ASM_HOST", ROOT / "target/release/asm"))
COMPONENT = Path(os.environ.get("ASM_COMPONENT", ROOT / "target/wasm32-wasip2/wasm/asm_guest.wasm"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SHOTS = Path(os.environ.get("ASM_SCREENSHOTS", ROOT / "target/browser-screenshots"))
PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def totp(secret, offset=0, at=None):
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps from now."""
    secret = secret.replace(" ", "").upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((at or time.time()) // 30) + offset
    mac = hmac.new(key, struct.pack(">Q", counter), "sha1").digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o : o + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class Inbox:
    """An SMTP handler that keeps each message it is given."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.messages.append((list(envelope.rcpt_tos), msg))
            self.cond.notify_all()
        return "250 OK"

    def link(self, to, page, other_than=None, timeout=20):
        """The newest link to /account/<page>?token=… mailed to `to` (and not `other_than`),
        waiting for it."""
        pattern = re.compile(r"https?://\S+?/account/" + page + r"\?token=[A-Za-z0-9_-]+")
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for rcpt, msg in reversed(self.messages):
                    if to in rcpt:
                        found = pattern.search(msg.get_body(preferencelist=("plain",)).get_content())
                        if found and found.group(0) != other_than:
                            return found.group(0)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {page} link was mailed to {to} within {timeout} s")
                self.cond.wait(left)

    def message(self, to, subject, timeout=20):
        """The newest message mailed to `to` whose subject contains `subject`, waiting for it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for rcpt, msg in reversed(self.messages):
                    if to in rcpt and subject in msg["subject"]:
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no message about {subject!r} was mailed to {to} within {timeout} s")
                self.cond.wait(left)

    def received(self, to):
        """The subjects of what has been mailed to `to` so far."""
        with self.cond:
            return [msg["subject"] for rcpt, msg in self.messages if to in rcpt]

    def clear(self, to):
        with self.cond:
            self.messages = [(r, m) for r, m in self.messages if to not in r]


class Api:
    """The JSON routes, for setting up what a test needs (each call is a plain API client)."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=None, user_agent=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if user_agent:
            headers["user-agent"] = user_agent
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null"), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), e.headers

    def register(self, name="Ada Lovelace"):
        tag = uuid.uuid4().hex[:10]
        user = {"email": f"ada.{tag}@example.com", "username": f"ada_{tag}", "password": PASSWORD, "full_name": name}
        status, body, _ = self.call("POST", "/auth/register", user)
        assert status == 201, body
        return user

    def login(self, email, password=PASSWORD, user_agent=None):
        """The session token of a login, or None when it is refused."""
        status, body, headers = self.call("POST", "/auth/login", {"email": email, "password": password},
                                          user_agent=user_agent)
        if status != 200:
            return None
        for cookie in headers.get_all("set-cookie") or []:
            name, _, rest = cookie.partition("=")
            if name == "session_token":
                return rest.split(";")[0]
        raise AssertionError(f"no session cookie in {headers}")


class Service:
    """One release host on a fresh PostgreSQL database and Redis key prefix."""

    def __init__(self, smtp_port, **settings):
        if not HOST_BIN.exists() or not COMPONENT.exists():
            raise RuntimeError(f"build first: {HOST_BIN} and {COMPONENT} are needed (make build-guest build-bins)")
        stamp = uuid.uuid4().hex[:12]
        self.db = f"asm_browser_{stamp}"
        self.prefix = f"asm-browser-{stamp}:"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="asm-browser-")
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": self.dir,
            "APP_ENV": "development",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db}",
            "REDIS_ADDR": "127.0.0.1:6379",
            "REDIS_KEY_PREFIX": self.prefix,
            "ARGON2_MEMORY_KIB": "256",
            "ARGON2_ITERATIONS": "1",
            "RUST_LOG": "warn",
            "ASM_COMPONENT": str(COMPONENT),
            "ASM_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "PUBLIC_URL": self.base,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "MAIL_FROM": "asm <no-reply@example.com>",
            "SERVICE_NAME": "asm",
            **settings,
        }
        migrate = subprocess.run([str(HOST_BIN), "migrate", "up"], env=self.env, cwd=self.dir,
                                 capture_output=True, text=True)
        if migrate.returncode != 0:
            raise RuntimeError("could not prepare PostgreSQL at 127.0.0.1:5432 (start it with "
                               f"`scripts/services.sh start`):\n{migrate.stderr}")
        self.log = open(Path(self.dir) / "asm.log", "w+")
        self.proc = subprocess.Popen(
            [str(HOST_BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--metrics-addr", "off"],
            env=self.env, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the service did not become ready (are PostgreSQL and Redis up? "
                                   f"`scripts/services.sh start`):\n{self.logs()}")
            time.sleep(0.1)
        self.api = Api(self.base)

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c",
                        f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'], capture_output=True)
        keys = subprocess.run(["redis-cli", "-h", "127.0.0.1", "--scan", "--pattern", self.prefix + "*"],
                              capture_output=True, text=True).stdout.split()
        if keys:
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "del", *keys], capture_output=True)


@pytest.fixture(scope="session")
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def start_service(inbox, **settings):
    service = Service(inbox[1], **settings)
    service.inbox = inbox[0]
    return service


@pytest.fixture(scope="session")
def service(inbox):
    s = start_service(inbox)
    yield s
    s.stop()
    failures = [l for l in s.logs().splitlines() if re.search(r"panicked|internal error", l, re.I)]
    assert not failures, "the service logged failures:\n" + "\n".join(failures)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


class Watch:
    """What a page did that no test expects: script errors, refused policies, other origins.
    A test that provokes one on purpose says so with `expect_also`."""

    def __init__(self, page, base):
        self.problems = []
        self.origins = [base + "/", "blob:" + base + "/"]
        self.expected = []
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on("console", self._console)
        page.on("request", self._request)

    def expect_also(self, origin=None, console=None):
        if origin:
            self.origins.append(origin)
        if console:
            self.expected.append(re.compile(console))

    def _request(self, request):
        if not request.url.startswith(tuple(self.origins)):
            self.problems.append(f"request to another origin: {request.url}")

    def _console(self, msg):
        # A failed API call is logged by the browser itself ("Failed to load resource"); those
        # are expected. Anything else at error level is not: a refused policy, an exception.
        if msg.type != "error" or "Failed to load resource" in msg.text:
            return
        if not any(p.search(msg.text) for p in self.expected):
            self.problems.append(f"console: {msg.text}")


def open_page(browser, service, request, **context_options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch(page, service.base)
    page.watch = watch
    request.addfinalizer(lambda: (context.close(), None)[1])
    request.addfinalizer(lambda: _no_problems(watch))
    return page


def _no_problems(watch):
    assert not watch.problems, "\n".join(watch.problems)


@pytest.fixture
def page(browser, service, request):
    return open_page(browser, service, request)


@pytest.fixture
def shot():
    """Saves a screenshot of the page's state under target/browser-screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name, full_page=True):
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)

    return take
