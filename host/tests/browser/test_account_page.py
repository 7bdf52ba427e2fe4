"""The account page (GET /account) in Debian's Chromium: a person signs in, manages sessions,
the password and the second factor, and follows the mailed links, against the real component
in the real host on PostgreSQL and Redis. Every test also fails on a script error, a refused
Content-Security-Policy or Trusted Types check, and any request to another origin (conftest)."""

import contextlib
import http.server
import re
import threading

from playwright.sync_api import expect

from conftest import PASSWORD, open_page, start_service, totp

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
NEW_PASSWORD = "a brand new passphrase"


def sign_in(page, base, email, password=PASSWORD):
    page.goto(base + "/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def expect_account(page, user):
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("#me-email")).to_have_text(user["email"])


def sign_out(page):
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # Nothing of the account stays in the page.
    for hidden in ["#me-email", "#sessions", "#history", "#totp-secret", "#recovery-codes"]:
        expect(page.locator(hidden)).to_have_text("")


def sessions(page):
    return page.locator("#sessions > li")


def assert_plain(page):
    """Nothing on the page reads like raw data."""
    text = page.locator("main").inner_text()
    for raw in ["{", "}", "undefined", "null", "[object", "NaN"]:
        assert raw not in text, f"{raw!r} on the page: {text}"


def wrong_code(secret):
    """A six-digit code that none of the accepted steps has."""
    near = {totp(secret, offset=o) for o in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in near)


def test_the_page_comes_with_a_strict_policy_and_cannot_be_framed(service, page):
    response = page.goto(service.base + "/account")
    headers = response.headers
    policy = headers["content-security-policy"]
    for directive in ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
                      "require-trusted-types-for 'script'"]:
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # Revalidation: the same file is not sent again.
    etag = headers["etag"]
    again = page.request.get(service.base + "/account", headers={"if-none-match": etag})
    assert again.status == 304 and again.body() == b""

    # A page of another origin frames the account page and, beside it, a page that does not
    # forbid framing: Chromium shows the second and refuses the first.
    with other_site(lambda port: (
            f'<iframe id="account" src="{service.base}/account"></iframe>'
            f'<iframe id="control" src="http://127.0.0.1:{port}/plain"></iframe>')) as other:
        page.watch.expect_also(origin=other, console=r"frame-ancestors 'none'")
        page.goto(other)
        expect(page.frame_locator("#control").get_by_role("heading", name="Sign in")).to_be_visible()
        page.wait_for_load_state("load")
        expect(page.frame_locator("#account").get_by_role("heading", name="Sign in")).to_have_count(0)
        assert any(f.url.startswith("chrome-error://") for f in page.frames), [f.url for f in page.frames]


@contextlib.contextmanager
def other_site(framing_page):
    """A site on another origin: `/` is `framing_page(port)`, `/plain` a page with a heading and
    no headers against framing."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("<h1>Sign in</h1>" if self.path == "/plain" else framing_page(server.server_port)).encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_sign_in_see_this_device_and_end_other_sessions(service, page, shot):
    api = service.api
    user = api.register()
    firefox = api.login(user["email"], user_agent=FIREFOX)
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    expect(page.locator("#me-name")).to_have_text("Ada Lovelace")
    expect(sessions(page)).to_have_count(2)
    this = sessions(page).filter(has_text="This device")
    expect(this).to_have_count(1)
    expect(this.get_by_role("button")).to_have_count(0)
    other = sessions(page).filter(has_text="Firefox")
    expect(other).to_contain_text("Windows")
    expect(other).to_contain_text("127.0.0.1")
    expect(other).to_contain_text("Last active")
    shot(page, "account")

    other.get_by_role("button", name="Sign out this session").click()
    expect(page.get_by_role("status")).to_have_text("The session is signed out.")
    expect(sessions(page)).to_have_count(1)
    assert api.call("GET", "/auth/user/me", token=firefox)[0] == 401

    tokens = [api.login(user["email"], user_agent=ua) for ua in (FIREFOX, SAFARI)]
    page.reload()
    expect(sessions(page)).to_have_count(3)
    page.get_by_role("button", name="Sign out all other sessions").click()
    expect(page.get_by_role("status")).to_have_text("2 other sessions are signed out.")
    expect(sessions(page)).to_have_count(1)
    assert [api.call("GET", "/auth/user/me", token=t)[0] for t in tokens] == [401, 401]
    assert not page.get_by_role("button", name="Sign out all other sessions").is_visible()

    sign_out(page)
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_login_history_reads_page_by_page(service, page):
    api = service.api
    user = api.register()
    assert api.login(user["email"], "not the password") is None
    for _ in range(11):
        assert api.login(user["email"])
    sign_in(page, service.base, user["email"])  # the 13th entry
    expect_account(page, user)
    rows = page.locator("#history > tr")
    expect(page.locator("#history-page")).to_have_text("Page 1 of 2")
    expect(rows).to_have_count(10)
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#history-page")).to_have_text("Page 2 of 2")
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("Wrong email or password")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    # Focus moved to the button that still works, not lost with the disabled one.
    expect(page.get_by_role("button", name="Previous page")).to_be_focused()
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#history-page")).to_have_text("Page 1 of 2")
    expect(rows.first).to_contain_text("Signed in")


def test_change_the_password_with_the_rules_shown_first(service, page):
    api = service.api
    user = api.register()
    other = api.login(user["email"], user_agent=FIREFOX)
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    form = page.locator("#password-form")
    expect(form.locator(".rules")).to_contain_text("At least 8 characters")
    new = form.get_by_label("New password", exact=True)
    expect(new).to_have_attribute("aria-describedby", "password-rules")

    def submit(current, password, again=None):
        form.get_by_label("Current password").fill(current)
        new.fill(password)
        form.get_by_label("New password again").fill(password if again is None else again)
        form.get_by_role("button", name="Change password").click()

    # Checked on the page, before anything is sent.
    submit(PASSWORD, "short")
    expect(form.get_by_role("alert")).to_have_text("New password must be at least 8 characters.")
    expect(new).to_have_attribute("aria-invalid", "true")
    expect(new).to_be_focused()
    described = new.get_attribute("aria-describedby").split()
    assert "password-new-error" in described
    expect(page.locator("#password-new-error")).to_have_text("New password must be at least 8 characters.")
    submit(PASSWORD, NEW_PASSWORD, "something else")
    expect(form.get_by_role("alert")).to_have_text("New password again does not match the new password.")
    # Checked by the service, shown as sentences beside the field.
    submit(PASSWORD, "qwertyuiop")
    expect(form.get_by_role("alert")).to_have_text(
        "New password is one of the most commonly used passwords; choose another.")
    submit("not my password", NEW_PASSWORD)
    expect(form.get_by_role("alert")).to_have_text("Current password is incorrect.")
    expect(form.get_by_label("Current password")).to_be_focused()

    submit(PASSWORD, NEW_PASSWORD)
    expect(page.get_by_role("status")).to_have_text("Your password is changed. One other session was signed out.")
    expect(new).not_to_have_attribute("aria-invalid", "true")
    assert api.call("GET", "/auth/user/me", token=other)[0] == 401
    assert api.login(user["email"]) is None
    assert api.login(user["email"], NEW_PASSWORD)
    page.reload()
    expect_account(page, user)


def test_turn_on_totp_sign_in_with_a_code_and_a_recovery_code_then_turn_it_off(service, page, shot):
    api = service.api
    user = api.register()
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    expect(page.locator("#totp-state")).to_contain_text("Off")
    turn_on = page.locator("#totp-on-form")
    turn_on.get_by_label("Password").fill(PASSWORD)
    turn_on.get_by_role("button", name="Turn on two-step verification").click()

    qr = page.get_by_role("img", name="QR code to add this account to an authenticator app")
    expect(qr).to_be_visible()
    # Cancelled, the key leaves the page; a new start gets a new key.
    first = page.locator("#totp-secret").inner_text()
    page.get_by_role("button", name="Cancel setting it up").click()
    expect(page.locator("#totp-secret")).to_have_text("")
    expect(turn_on).to_be_visible()
    turn_on.get_by_label("Password").fill(PASSWORD)
    turn_on.get_by_role("button", name="Turn on two-step verification").click()
    expect(qr).to_be_visible()
    assert page.locator("#totp-secret").inner_text() != first
    # The SVG really loaded as an image under the page's policy.
    assert page.evaluate("() => document.getElementById('totp-qr').naturalWidth") > 0
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert page.locator("#totp-uri").get_attribute("href").startswith("otpauth://totp/")
    shot(page, "totp-enrolment")

    confirm = page.locator("#totp-confirm-form")
    confirm.get_by_label("Code from the app").fill(wrong_code(secret))
    confirm.get_by_role("button", name="Confirm").click()
    expect(confirm.get_by_role("alert")).to_have_text("Code from the app is not the current code.")
    confirm.get_by_label("Code from the app").fill(totp(secret))
    confirm.get_by_role("button", name="Confirm").click()
    codes = page.locator("#recovery-codes > li")
    expect(codes).to_have_count(10)
    recovery = codes.all_inner_texts()
    assert all(re.fullmatch(r"[a-z2-7]{5}-[a-z2-7]{5}", c) for c in recovery), recovery
    expect(page.locator("#codes-hint")).to_be_focused()
    shot(page, "recovery-codes")
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator("#recovery-codes > li")).to_have_count(0)
    expect(page.locator("#totp-state")).to_contain_text("On")

    sign_out(page)
    sign_in(page, service.base, user["email"])
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    shot(page, "second-step")
    step = page.locator("#mfa-form")
    # Not six digits: said on the page, and no try is used up.
    step.get_by_label("Authentication code").fill("12345")
    step.get_by_role("button", name="Verify").click()
    expect(step.get_by_role("alert")).to_have_text("Authentication code must be the 6 digits your app shows.")
    step.get_by_label("Authentication code").fill(wrong_code(secret))
    step.get_by_role("button", name="Verify").click()
    expect(step.get_by_role("alert")).to_contain_text("That code is not right")
    assert_plain(page)
    # The code that confirmed the enrolment was used; the next step's code is new (one step of
    # drift is allowed, so it is accepted now).
    step.get_by_label("Authentication code").fill(totp(secret, offset=1))
    step.get_by_role("button", name="Verify").click()
    expect_account(page, user)
    expect(sessions(page).filter(has_text="This device")).to_contain_text("with two-step verification")

    sign_out(page)
    sign_in(page, service.base, user["email"])
    page.get_by_role("button", name="Use a recovery code instead").click()
    step.get_by_label("Recovery code").fill(recovery[0])
    step.get_by_role("button", name="Verify").click()
    expect_account(page, user)
    expect(page.locator("#history > tr").first).to_contain_text("Signed in with a recovery code")

    # New recovery codes: shown once, and the old ones stop working.
    new_codes = page.locator("#codes-form")
    new_codes.get_by_label("Password").fill(PASSWORD)
    new_codes.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("status")).to_have_text("New recovery codes are ready; the old ones no longer work.")
    expect(codes).to_have_count(10)
    assert set(codes.all_inner_texts()).isdisjoint(recovery)
    page.get_by_role("button", name="I have saved them").click()
    _, body, _ = api.call("POST", "/auth/login", {"email": user["email"], "password": PASSWORD})
    status, _, _ = api.call("POST", "/auth/login/mfa",
                            {"mfa_token": body["data"]["mfa_token"], "recovery_code": recovery[1]})
    assert status == 401

    turn_off = page.locator("#totp-off-form")
    turn_off.get_by_label("Password").fill("not my password")
    turn_off.get_by_role("button", name="Turn off two-step verification").click()
    expect(turn_off.get_by_role("alert")).to_have_text("Password is incorrect.")
    expect(turn_off.get_by_label("Password")).to_be_focused()
    turn_off.get_by_label("Password").fill(PASSWORD)
    turn_off.get_by_role("button", name="Turn off two-step verification").click()
    expect(page.get_by_role("status")).to_have_text("Two-step verification is off.")
    expect(page.locator("#totp-title")).to_be_focused()
    sign_out(page)
    sign_in(page, service.base, user["email"])
    expect_account(page, user)


def test_reset_the_password_from_the_mailed_link(service, page, shot):
    api, inbox = service.api, service.inbox
    user = api.register()
    page.goto(service.base + "/account")
    page.get_by_role("button", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_focused()
    form = page.locator("#forgot-form")
    form.get_by_label("Email").fill(user["email"])
    form.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("a link to reset its password is on its way")

    link = inbox.link(user["email"], "reset")
    assert link.startswith(service.base + "/account/reset?token=")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    # The token leaves the address bar (and the history) at once.
    assert page.url == service.base + "/account/reset"
    shot(page, "reset")
    reset = page.locator("#reset-form")
    expect(reset.locator(".rules")).to_contain_text("At least 8 characters")
    reset.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    reset.get_by_label("New password again").fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url == service.base + "/account"
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(user["email"])
    form.get_by_label("Password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect_account(page, user)

    # The link works once.
    page.goto(link)
    reset.get_by_label("New password", exact=True).fill("yet another passphrase")
    reset.get_by_label("New password again").fill("yet another passphrase")
    reset.get_by_role("button", name="Set the new password").click()
    expect(reset.get_by_role("alert")).to_have_text(
        "This link no longer works: it has expired, it was already used, or a newer one was sent. "
        "Ask for a new link.")

    # Opened without its token, the page says so before anything is typed.
    page.goto(service.base + "/account/reset")
    expect(reset.get_by_role("alert")).to_have_text(
        "This page was opened without the token of the link. Open the link from the email again.")


def test_the_verification_link_lands_on_a_confirmation(service, page, shot):
    api, inbox = service.api, service.inbox
    user = api.register()
    first = inbox.link(user["email"], "verify")
    # A new link from the page replaces the first.
    sign_in(page, service.base, user["email"])
    expect_account(page, user)
    expect(page.locator("#me-verified")).to_have_text("Not verified")
    page.get_by_role("button", name="Send the verification link again").click()
    expect(page.get_by_role("status")).to_have_text(f"A new verification link is on its way to {user['email']}.")
    link = inbox.link(user["email"], "verify", other_than=first)
    page.goto(first)
    expect(page.locator("#verify-result")).to_contain_text("This link no longer works")

    page.goto(link)
    expect(page.locator("#verify-result")).to_have_text("Your email address is verified. Thank you.")
    assert page.url == service.base + "/account/verify"
    shot(page, "verified")
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#me-verified")).to_have_text("Verified")
    expect(page.get_by_role("button", name="Send the verification link again")).to_be_hidden()
    page.goto(link)
    expect(page.locator("#verify-result")).to_contain_text("This link no longer works")
    assert_plain(page)


def test_api_errors_read_as_sentences(service, page):
    api = service.api
    user = api.register()
    sign_in(page, service.base, user["email"], "not the password")
    alert = page.locator("#signin-form").get_by_role("alert")
    expect(alert).to_have_text("The email address or the password is not right.")
    for _ in range(4):
        page.locator("#signin-form").get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        # The page ignores a submit while one is running: each try waits for the last answer.
        expect(page.locator("#signin-form")).not_to_have_attribute("aria-busy", "true")
    page.locator("#signin-form").get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text(re.compile(r"^Too many failed attempts\. Try again in \d+ minutes\.$"))
    assert_plain(page)

    # 409: the second factor turned on elsewhere while this page offered to turn it on.
    other = api.register()
    token = api.login(other["email"])
    sign_in(page, service.base, other["email"])
    expect_account(page, other)
    _, body, _ = api.call("POST", "/auth/user/totp", {"password": PASSWORD}, token=token)
    code = totp(body["data"]["secret"])
    assert api.call("POST", "/auth/user/totp/confirm", {"code": code}, token=token)[0] == 200
    turn_on = page.locator("#totp-on-form")
    turn_on.get_by_label("Password").fill(PASSWORD)
    turn_on.get_by_role("button", name="Turn on two-step verification").click()
    expect(page.locator("#alert")).to_have_text("Two-step verification is already on for this account.")
    # The page read the account again: it offers what can be done now.
    expect(page.locator("#totp-state")).to_contain_text("On")
    expect(page.locator("#totp-off-form")).to_be_visible()
    assert_plain(page)

    # 401 once the session was ended elsewhere: back to signing in, said so.
    assert api.call("DELETE", "/auth/user/sessions", token=token)[0] == 200
    page.get_by_role("button", name="Sign out all other sessions").click()
    expect(page.locator("#alert")).to_have_text("Your session has ended. Sign in again.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_plain(page)


def test_an_unverified_email_is_told_to_verify_first(inbox, browser, request):
    strict = start_service(inbox, REQUIRE_VERIFIED_EMAIL="true")
    request.addfinalizer(strict.stop)
    page = open_page(browser, strict, request)
    user = strict.api.register()
    sign_in(page, strict.base, user["email"])
    expect(page.locator("#signin-form").get_by_role("alert")).to_have_text(
        "Confirm your email address first: open the link we emailed you, then sign in.")
    page.goto(strict.inbox.link(user["email"], "verify"))
    expect(page.locator("#verify-result")).to_have_text("Your email address is verified. Thank you.")
    page.get_by_role("link", name="Go to your account").click()
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(user["email"])
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect_account(page, user)
    expect(page.locator("#me-verified")).to_have_text("Verified")


def test_a_phone_sized_screen_and_the_keyboard_alone(service, browser, request, shot):
    page = open_page(browser, service, request, viewport={"width": 390, "height": 844}, is_mobile=True,
                     has_touch=True, device_scale_factor=2)
    user = service.api.register()
    service.api.login(user["email"], user_agent=FIREFOX)
    page.goto(service.base + "/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    focused = lambda: page.evaluate("() => document.activeElement.id || document.activeElement.textContent")
    page.keyboard.press("Tab")
    assert focused() == "Skip to content"
    page.keyboard.press("Tab")
    assert focused() == "signin-email"
    page.keyboard.type(user["email"])
    page.keyboard.press("Tab")
    assert focused() == "signin-password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect_account(page, user)
    expect(page.get_by_role("heading", name="Your account")).to_be_focused()
    expect(sessions(page)).to_have_count(2)
    # Nothing is wider than the screen.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "phone")

    # The other session ended with the keyboard: Tab to its button, Enter.
    target = sessions(page).filter(has_text="Firefox").get_by_role("button")
    for _ in range(30):
        page.keyboard.press("Tab")
        if target.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("the session's button is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(sessions(page)).to_have_count(1)
    expect(page.locator("#sessions-title")).to_be_focused()
    # Back up to the sign-out button in the header.
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if focused() == "sign-out":
            break
    else:
        raise AssertionError("the sign-out button is not reachable with Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
