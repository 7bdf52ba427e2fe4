"""The account page over an account's whole life: registering through the form (and what the
page offers when registration is closed), changing the email address with the link mailed to
the new one, downloading one's data, and deleting the account. Same real host, component,
stores, SMTP capture and Chromium as test_account_page.py."""

import json
import re
import urllib.request
import uuid

from playwright.sync_api import expect

from conftest import PASSWORD, open_page, start_service, totp
from test_account_page import assert_plain, expect_account, sign_in, sign_out, wrong_code

GONE = "This link no longer works: it has expired, it was already used, or a newer one was sent. Ask for a new link."
CLOSED = "Registration is closed: the people who run this service create the accounts."
WAIT = re.compile(r"Try again in (\d+ seconds|\d+ minutes|a minute|an hour)\.$")


def tag():
    return uuid.uuid4().hex[:10]


def plain_text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def html_text(msg):
    return msg.get_body(preferencelist=("html",)).get_content()


def fetch_page(base, path="/account"):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.read().decode(), r.headers["etag"]


def test_register_through_the_form_then_verify_from_the_mail(service, page, shot):
    api, inbox = service.api, service.inbox
    page.goto(service.base + "/account")
    expect(page.locator("html")).to_have_attribute("data-registration", "open")
    page.get_by_role("button", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_focused()
    form = page.locator("#register-form")
    t = tag()

    def fill(email, username, name="Grace Hopper", password=PASSWORD, again=None):
        form.get_by_label("Full name").fill(name)
        form.get_by_label("Username").fill(username)
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password", exact=True).fill(password)
        form.get_by_label("Password again").fill(password if again is None else again)
        form.get_by_role("button", name="Create the account").click()

    # Checked on the page first.
    fill(f"grace.{t}@example.com", f"grace_{t}", again="something else")
    expect(form.get_by_role("alert")).to_have_text("Password again does not match the password.")
    expect(form.get_by_label("Password again")).to_be_focused()
    # The service's field errors, each beside its field.
    fill(f"grace.{t}@example.com", "g", name="   ")
    expect(form.get_by_role("alert")).to_have_text(
        "Username must be between 3 and 50 characters. Full name is required.")
    expect(form.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Full name")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#register-name-error")).to_have_text("Full name is required.")
    expect(form.get_by_label("Username")).to_be_focused()
    fill(f"grace.{t}@example.com", f"grace_{t}", password=f"grace_{t}")
    expect(form.get_by_role("alert")).to_contain_text("Password ")
    expect(form.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    # Taken: said at the field the service names.
    taken = api.register()
    fill(taken["email"], f"grace_{t}")
    expect(form.get_by_role("alert")).to_have_text("Email is already used by another account.")
    expect(form.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Email")).to_be_focused()
    fill(f"grace.{t}@example.com", taken["username"])
    expect(form.get_by_role("alert")).to_have_text("Username is already used by another account.")
    expect(form.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    assert_plain(page)
    shot(page, "register-errors")

    # Typed with capitals; the account keeps the address in lower case, and so does sign-in.
    fill(f"Grace.{t}@Example.COM", f"grace_{t}")
    email = f"grace.{t}@example.com"
    notice = page.get_by_role("status")
    expect(notice).to_have_text(
        f"Your account is ready. Check your mail: we sent a link to {email} to confirm that the address is yours.")
    expect(notice).to_be_focused()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#register-form")).to_be_hidden()
    signin = page.locator("#signin-form")
    expect(signin.get_by_label("Email")).to_have_value(email)
    expect(signin.get_by_label("Password")).to_have_value("")
    # The form was emptied, password included.
    expect(form.get_by_label("Password", exact=True)).to_have_value("")
    shot(page, "registered")

    link = inbox.link(email, "verify")
    signin.get_by_label("Password").fill(PASSWORD)
    signin.get_by_role("button", name="Sign in").click()
    expect_account(page, {"email": email})
    expect(page.locator("#me-name")).to_have_text("Grace Hopper")
    expect(page.locator("#me-username")).to_have_text(f"grace_{t}")
    expect(page.locator("#me-verified")).to_have_text("Not verified")
    page.goto(link)
    expect(page.locator("#verify-result")).to_have_text("Your email address is verified. Thank you.")
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#me-verified")).to_have_text("Verified")


def test_closed_registration_offers_no_form(inbox, service, browser, request, shot):
    closed = start_service(inbox, REGISTRATION_ENABLED="false")
    request.addfinalizer(closed.stop)
    status, body, _ = closed.api.call("POST", "/auth/register", {
        "email": f"x.{tag()}@example.com", "username": f"x_{tag()}", "password": PASSWORD, "full_name": "X"})
    assert status == 403 and body["error"].startswith("registration is closed"), body

    # The same document but for its marker, under another validator.
    open_html, open_etag = fetch_page(service.base)
    shut_html, shut_etag = fetch_page(closed.base)
    assert 'data-registration="open"' in open_html and 'data-registration="shut"' in shut_html
    assert open_html.replace('data-registration="open"', 'data-registration="shut"') == shut_html
    assert open_etag != shut_etag
    # Every path of the page serves the closed variant.
    for path in ["/account/reset", "/account/verify", "/account/email"]:
        assert fetch_page(closed.base, path)[1] == shut_etag

    page = open_page(browser, closed, request)
    page.goto(closed.base + "/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.get_by_role("button", name="Create an account")).to_have_count(0)
    expect(page.locator("#register-offer")).to_have_count(0)
    expect(page.locator("#register-form")).to_be_hidden()
    expect(page.get_by_text("No account yet?")).to_have_count(0)
    shot(page, "registration-closed")

    # A page loaded while registration was open, submitted after it closed: the service's 403
    # is said in words.
    def as_if_open(route):
        response = route.fetch()
        route.fulfill(response=response,
                      body=response.text().replace('data-registration="shut"', 'data-registration="open"'))

    page.route(closed.base + "/account", as_if_open)
    page.goto(closed.base + "/account")
    page.get_by_role("button", name="Create an account").click()
    form = page.locator("#register-form")
    t = tag()
    form.get_by_label("Full name").fill("Late Comer")
    form.get_by_label("Username").fill(f"late_{t}")
    form.get_by_label("Email").fill(f"late.{t}@example.com")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Create the account").click()
    expect(form.get_by_role("alert")).to_have_text(CLOSED)
    assert closed.api.login(f"late.{t}@example.com") is None


def test_change_the_email_with_the_link_mailed_to_the_new_address(service, page, shot):
    api, inbox = service.api, service.inbox
    user = api.register()
    old = user["email"]
    other = api.register()
    sign_in(page, service.base, old)
    expect_account(page, user)
    form = page.locator("#email-form")
    new_email = form.get_by_label("New email")
    expect(new_email).to_have_attribute("aria-describedby", "email-rules")

    def ask(address, password=PASSWORD):
        new_email.fill(address)
        form.get_by_label("Current password").fill(password)
        form.get_by_role("button", name="Send the confirmation link").click()

    ask(f"new.{tag()}@example.com", "not my password")
    expect(form.get_by_role("alert")).to_have_text("Current password is incorrect.")
    expect(form.get_by_label("Current password")).to_be_focused()
    ask(other["email"])
    expect(form.get_by_role("alert")).to_have_text("New email is already used by another account.")
    expect(new_email).to_have_attribute("aria-invalid", "true")
    expect(new_email).to_be_focused()
    ask(old)
    expect(form.get_by_role("alert")).to_have_text("New email is the account's email already.")
    ask("not an address")
    expect(form.get_by_role("alert")).to_have_text("New email must be a valid email address.")
    assert_plain(page)
    # None of these mailed anything to the old address.
    assert not [s for s in inbox.received(old) if "change of your" in s], inbox.received(old)

    new = f"new.{tag()}@example.com"
    ask(new)
    notice = page.get_by_role("status")
    expect(notice).to_have_text(
        f"We sent a link to {new}. Nothing changes until you open it: until then your email address stays {old}.")
    expect(notice).to_be_focused()
    expect(new_email).to_have_value("")
    expect(new_email).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#me-email")).to_have_text(old)
    shot(page, "email-change-asked")

    link = inbox.link(new, "email")
    assert link.startswith(service.base + "/account/email?token="), link
    # The old address is told, without a link; only the new one gets the link.
    asked = inbox.message(old, "change of your asm email address was asked for")
    assert new in plain_text(asked)
    for text in (plain_text(asked), html_text(asked)):
        assert "token=" not in text and "http" not in text, text
    assert not any("Confirm your new email" in s for s in inbox.received(old))
    # Nothing has changed yet.
    assert api.login(new) is None
    assert api.login(old)

    page.goto(link)
    expect(page.get_by_role("heading", name="New email address")).to_be_visible()
    expect(page.locator("#email-result")).to_have_text(f"Your email address is now {new}. Sign in with it from now on.")
    # The token left the address bar at once.
    assert page.url == service.base + "/account/email"
    shot(page, "email-changed")
    changed = inbox.message(old, "email address was changed")
    assert new in plain_text(changed) and "token=" not in plain_text(changed)
    # The link works once.
    page.goto(link)
    expect(page.locator("#email-result")).to_have_text(GONE)
    assert_plain(page)

    # This browser's session carries on, with the new address, verified by the link.
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#me-email")).to_have_text(new)
    expect(page.locator("#me-verified")).to_have_text("Verified")
    sign_out(page)
    sign_in(page, service.base, old)
    expect(page.locator("#signin-form").get_by_role("alert")).to_have_text(
        "The email address or the password is not right.")
    sign_in(page, service.base, new)
    expect_account(page, {"email": new})

    # Opened without its token, the page says so.
    page.goto(service.base + "/account/email")
    expect(page.locator("#email-result")).to_have_text(
        "This page was opened without the token of the link. Open the link from the email again.")


def test_an_email_change_taken_meanwhile_and_asked_too_often(service, page):
    api, inbox = service.api, service.inbox
    user = api.register()
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    form = page.locator("#email-form")

    def ask(address):
        form.get_by_label("New email").fill(address)
        form.get_by_label("Current password").fill(PASSWORD)
        form.get_by_role("button", name="Send the confirmation link").click()

    # Another account registers the address before the link is opened.
    wanted = f"wanted.{tag()}@example.com"
    ask(wanted)
    expect(page.get_by_role("status")).to_contain_text(f"We sent a link to {wanted}.")
    link = inbox.link(wanted, "email")
    status, _, _ = api.call("POST", "/auth/register", {
        "email": wanted, "username": f"quick_{tag()}", "password": PASSWORD, "full_name": "Quick"})
    assert status == 201
    page.goto(link)
    expect(page.locator("#email-result")).to_have_text(
        "Another account took this address after you asked for it, so your email address has not changed. "
        "Ask again with another address.")
    expect(page.locator("#email-result")).to_have_class("error")
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#me-email")).to_have_text(user["email"])

    # Three requests an hour per account; the fourth is refused with the wait in words.
    for _ in range(2):
        later = f"later.{tag()}@example.com"
        ask(later)
        expect(page.get_by_role("status")).to_contain_text(f"We sent a link to {later}.")
    ask(f"later.{tag()}@example.com")
    alert = form.get_by_role("alert")
    expect(alert).to_have_text(WAIT)
    expect(alert).to_contain_text("Too many requests.")
    assert_plain(page)


def test_download_my_data(service, page, shot):
    api = service.api
    user = api.register()
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    account_id = api.call("GET", "/auth/user/me", token=api.login(user["email"]))[1]["data"]["user"]["id"]

    with page.expect_download() as info:
        page.get_by_role("button", name="Download my data").click()
    download = info.value
    assert download.url.startswith(f"blob:{service.base}/"), download.url
    assert download.suggested_filename == f"asm-account-{account_id}.json"
    assert download.failure() is None
    with open(download.path(), encoding="utf-8") as f:
        saved = json.load(f)
    data = saved["data"]
    assert data["account"]["email"] == user["email"]
    assert data["account"]["username"] == user["username"]
    # No password and no hash of one (events name the sign-in method "password"; that is fine).
    dumped = json.dumps(data)
    assert user["password"] not in dumped and "password_hash" not in dumped
    assert "$argon2" not in dumped and "$2b$" not in dumped and "$2a$" not in dumped
    assert "user.created" in [e["type"] for e in data["events"]]
    assert len(data["sessions"]) == 2 and sum(s["current_session"] for s in data["sessions"]) == 1
    assert [a["outcome"] for a in data["logins"]] == ["success", "success"]
    expect(page.get_by_role("status")).to_have_text(f"Your data is saved by your browser as asm-account-{account_id}.json.")
    shot(page, "export")

    # Signed out elsewhere: the page says so instead of saving an error.
    assert api.call("DELETE", "/auth/user/sessions", token=api.login(user["email"]))[0] == 200
    page.get_by_role("button", name="Download my data").click()
    expect(page.locator("#alert")).to_have_text("Your session has ended. Sign in again.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_delete_the_account_after_a_wrong_password_and_the_confirmation(service, page, shot):
    api, inbox = service.api, service.inbox
    user = api.register()
    elsewhere = api.login(user["email"])
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    form = page.locator("#delete-form")
    expect(page.locator("#delete-warning")).to_contain_text("This is permanent.")
    # Without a second factor, no field asks for one.
    expect(page.locator("#delete-code")).to_be_hidden()
    button = form.get_by_role("button", name="Delete my account permanently")

    def submit(password, confirmation):
        form.get_by_label("Password").fill(password)
        form.get_by_label("Confirmation").fill(confirmation)
        button.click()

    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Confirmation").fill("DELETE")
    shot(page, "delete-account")
    submit("", "")
    expect(form.get_by_role("alert")).to_have_text(
        "Password is required. Confirmation must be the word DELETE, in capital letters.")
    expect(form.get_by_label("Password")).to_be_focused()
    submit("not my password", "DELETE")
    expect(form.get_by_role("alert")).to_have_text("Password is incorrect.")
    expect(form.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Password")).to_be_focused()
    assert api.call("GET", "/auth/user/me", token=elsewhere)[0] == 200
    # The right password, not confirmed: nothing is sent.
    submit(PASSWORD, "delete")
    expect(form.get_by_role("alert")).to_have_text("Confirmation must be the word DELETE, in capital letters.")
    expect(form.get_by_label("Confirmation")).to_be_focused()
    assert api.call("GET", "/auth/user/me", token=elsewhere)[0] == 200
    submit(PASSWORD, "DELETE")
    notice = page.get_by_role("status")
    expect(notice).to_have_text("Your account is deleted. Everything kept about it is gone, and you are signed out.")
    expect(notice).to_be_focused()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    for emptied in ["#me-email", "#me-name", "#sessions", "#history"]:
        expect(page.locator(emptied)).to_have_text("")
    expect(form.get_by_label("Password")).to_have_value("")
    shot(page, "account-deleted")
    assert api.call("GET", "/auth/user/me", token=elsewhere)[0] == 401
    assert api.login(user["email"]) is None
    assert "deleted" in inbox.message(user["email"], "account was deleted")["subject"]

    # The cookie went with the account; signing in again is refused.
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, service.base, user["email"])
    expect(page.locator("#signin-form").get_by_role("alert")).to_have_text(
        "The email address or the password is not right.")


def test_delete_an_account_with_two_step_verification(service, page):
    api = service.api
    user = api.register()
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    expect(page.locator("#delete-code")).to_be_hidden()
    # Turned on elsewhere after this page read the account.
    token = api.login(user["email"])
    secret = api.call("POST", "/auth/user/totp", {"password": PASSWORD}, token=token)[1]["data"]["secret"]
    assert api.call("POST", "/auth/user/totp/confirm", {"code": totp(secret)}, token=token)[0] == 200

    form = page.locator("#delete-form")
    factor = form.get_by_label("Code from your app or a recovery code")
    button = form.get_by_role("button", name="Delete my account permanently")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Confirmation").fill("DELETE")
    button.click()
    # The service's 400 brings the field out, with the reason.
    expect(factor).to_be_visible()
    expect(form.get_by_role("alert")).to_have_text(
        "Code from your app or a recovery code is required while two-step verification is on.")
    expect(factor).to_be_focused()

    # Read afresh, the page asks for it from the start.
    page.reload()
    expect_account(page, user)
    expect(factor).to_be_visible()
    expect(factor).to_have_attribute("aria-describedby", "delete-code-hint")

    def submit(code):
        form.get_by_label("Password").fill(PASSWORD)
        factor.fill(code)
        form.get_by_label("Confirmation").fill("DELETE")
        button.click()

    submit("")
    expect(form.get_by_role("alert")).to_have_text(
        "Code from your app or a recovery code is required while two-step verification is on.")
    submit(wrong_code(secret))
    expect(form.get_by_role("alert")).to_have_text("Code from your app or a recovery code is incorrect.")
    expect(factor).to_have_attribute("aria-invalid", "true")
    # Not digits: sent as a recovery code, and its refusal shown at the same field.
    submit("aaaaa-bbbbb")
    expect(form.get_by_role("alert")).to_have_text("Code from your app or a recovery code is incorrect.")
    expect(factor).to_be_focused()
    assert api.call("GET", "/auth/user/me", token=token)[0] == 200

    # The code after the one that confirmed the enrolment (one step of drift is allowed).
    submit(totp(secret, offset=1))
    expect(page.get_by_role("status")).to_have_text(
        "Your account is deleted. Everything kept about it is gone, and you are signed out.")
    assert api.call("GET", "/auth/user/me", token=token)[0] == 401
    assert api.login(user["email"]) is None
