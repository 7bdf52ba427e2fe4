// The account page: plain DOM, the JSON routes under /auth with the session cookie, no HTML
// from strings. One document serves /account, /account/reset, /account/verify and
// /account/email.
'use strict';

const $ = (id) => document.getElementById(id);
const VIEWS = ['signin', 'register', 'mfa', 'forgot', 'reset', 'verify', 'email', 'account'];
const PER_PAGE = 10;
const NO_TOKEN = 'This page was opened without the token of the link. Open the link from the email again.';
const OUTCOMES = {
  success: 'Signed in',
  recovery_code: 'Signed in with a recovery code',
  invalid_credentials: 'Wrong email or password',
  mfa_failed: 'Wrong code',
  locked: 'Locked after too many failures',
};

// What the service's 409s mean, in words.
const CONFLICTS = {
  'TOTP is already on; turn it off first': 'Two-step verification is already on for this account.',
  'TOTP is already on': 'Two-step verification is already on for this account.',
  'TOTP is off': 'Two-step verification is off for this account.',
  'no TOTP enrolment is pending: start one first': 'This setup was replaced or has ended. Start again.',
};

const state = { mfaToken: null, recovery: false, linkToken: null, me: null, page: 1, qrUrl: null, exportUrl: null };

// ---- small helpers

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function when(iso) {
  const t = el('time', new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
  t.dateTime = iso;
  return t;
}

function inWords(seconds) {
  if (seconds < 60) return seconds <= 1 ? 'a second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return minutes === 1 ? 'a minute' : `${minutes} minutes`;
  const hours = Math.ceil(minutes / 60);
  return hours === 1 ? 'an hour' : `${hours} hours`;
}

function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A page-level message: `notice` for news, `alert` for failures; each clears the other.
function say(text, failure = false) {
  $('notice').textContent = failure ? '' : text;
  $('alert').textContent = failure ? text : '';
}

function show(view, focus = true) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  $('sign-out').hidden = view !== 'account';
  const heading = document.querySelector(`#view-${view} h1`);
  document.title = `${heading.textContent} · Account`;
  if (focus) heading.focus();
}

// ---- the API

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, body: null, retry: 0 };
  }
  // The text is kept as sent, for a download; `body` is what it says.
  let text = '';
  let json = null;
  try {
    text = await response.text();
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const retry = Number(response.headers.get('retry-after')) || 0;
  return { ok: response.ok, status: response.status, body: json, retry, text, headers: response.headers };
}

// What went wrong, as a sentence. `context` says what was being done.
function sentence(r, context) {
  const error = r.body ? r.body.error : undefined;
  switch (r.status) {
    case 0:
      return 'The service could not be reached. Check your connection and try again.';
    case 400:
      if (error === 'invalid or expired token') {
        return 'This link no longer works: it has expired, it was already used, or a newer one was sent. Ask for a new link.';
      }
      if (typeof error === 'string' && /cookie was sent more than once/.test(error)) {
        return 'This browser sent its sign-in twice. Clear this site\'s cookies, then sign in again.';
      }
      return 'The request was not accepted. Check what you entered and try again.';
    case 401:
      if (context === 'signin') return 'The email address or the password is not right.';
      if (context === 'mfa') {
        return 'That code is not right, or the sign-in took too long. Try again, or cancel and sign in again.';
      }
      return 'Your session has ended. Sign in again.';
    case 403:
      if (typeof error === 'string' && /^registration is closed/.test(error)) {
        return 'Registration is closed: the people who run this service create the accounts.';
      }
      if (error === 'email_not_verified') {
        return 'Confirm your email address first: open the link we emailed you, then sign in.';
      }
      return 'The service refused this request. Reload this page and try again.';
    case 404:
      return context === 'session' ? 'That session had already ended.' : 'That was not found.';
    case 409:
      if (error && typeof error === 'object' && error.field) return `That ${error.field} is already in use.`;
      if (typeof error === 'string' && CONFLICTS[error]) return CONFLICTS[error];
      return 'That cannot be done in the account\'s current state. Reload the page and try again.';
    case 413:
      return 'What you entered is too long.';
    case 429: {
      const what = r.body && /login/.test(r.body.message) ? 'Too many failed attempts.' : 'Too many requests.';
      const wait = r.retry || (error && Number(error.retry_after)) || 60;
      return `${what} Try again in ${inWords(wait)}.`;
    }
    case 503:
      return 'The service is unavailable for the moment. Try again in a little while.';
    default:
      return `Something went wrong on the service's side (error ${r.status}). Try again later.`;
  }
}

// ---- forms and their errors

function clearErrors(form) {
  form.querySelector('.error').textContent = '';
  for (const e of form.querySelectorAll('.field-error')) e.remove();
  for (const input of form.querySelectorAll('input[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    const before = input.dataset.describedby;
    if (before) input.setAttribute('aria-describedby', before);
    else input.removeAttribute('aria-describedby');
  }
}

// Marks a field and says what is wrong with it, beside it and in the form's alert.
function fieldError(form, name, message) {
  const input = form.elements.namedItem(name);
  if (!input || !input.id) return null;
  const label = form.querySelector(`label[for="${input.id}"]`).textContent;
  const text = `${label} ${message}.`;
  const note = el('span', text, 'field-error');
  note.id = `${input.id}-error`;
  input.after(note);
  if (input.dataset.describedby === undefined) input.dataset.describedby = input.getAttribute('aria-describedby') || '';
  input.setAttribute('aria-describedby', `${input.dataset.describedby} ${note.id}`.trim());
  input.setAttribute('aria-invalid', 'true');
  return { input, text };
}

function failFields(form, problems) {
  const marked = problems.map(([name, message]) => fieldError(form, name, message) || { text: `${capital(message)}.` });
  form.querySelector('.error').textContent = marked.map((m) => m.text).join(' ');
  const first = marked.find((m) => m.input);
  if (first) first.input.focus();
}

// Shows a failed API call on its form. A session that ended sends the person to sign in.
function fail(form, r, context) {
  const error = r.body ? r.body.error : undefined;
  if (r.status === 400 && error && Array.isArray(error.fields)) {
    return failFields(form, error.fields.map((f) => [f.field, f.message]));
  }
  if (r.status === 401 && error && error.field) return failFields(form, [[error.field, error.message]]);
  if (r.status === 401 && context === 'account') return signedOut(sentence(r), true);
  // An address or a username another account has: said at the field the service names.
  if (r.status === 409 && error && error.field) return failFields(form, [[error.field, 'is already used by another account']]);
  form.querySelector('.error').textContent = sentence(r, context);
}

// The rules a new password must meet that can be checked here; the service checks them all.
// `name` is the field's: `new_password` when one is changed, `password` at registration.
function newPasswordProblems(form, name = 'new_password') {
  const password = form.elements.namedItem(name).value;
  const problems = [];
  if ([...password].length < 8) problems.push([name, 'must be at least 8 characters']);
  else if (new TextEncoder().encode(password).length > 72) problems.push([name, 'must be at most 72 bytes']);
  const which = name === 'new_password' ? 'the new password' : 'the password';
  if (form.elements.namedItem('again').value !== password) problems.push(['again', `does not match ${which}`]);
  return problems;
}

// Runs `handler` on submit, after clearing old errors; a submit while one is running is
// ignored (buttons stay enabled, so keyboard focus stays where it was).
function onSubmit(id, handler) {
  const form = $(id);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    clearErrors(form);
    form.setAttribute('aria-busy', 'true');
    try {
      await handler(form);
    } finally {
      form.removeAttribute('aria-busy');
    }
  });
}

// The same for a button outside a form: one request at a time.
function onClick(button, handler) {
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-busy') === 'true') return;
    button.setAttribute('aria-busy', 'true');
    try {
      await handler();
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
}

// Every form back to empty, without errors.
function resetForms() {
  for (const form of document.querySelectorAll('form')) {
    form.reset();
    clearErrors(form);
  }
}

const value = (form, name) => form.elements.namedItem(name).value;

// ---- signing in and out

function setRecovery(recovery) {
  state.recovery = recovery;
  const input = $('mfa-code');
  input.name = recovery ? 'recovery_code' : 'code';
  input.value = '';
  input.inputMode = recovery ? 'text' : 'numeric';
  input.autocomplete = recovery ? 'off' : 'one-time-code';
  $('mfa-label').textContent = recovery ? 'Recovery code' : 'Authentication code';
  $('mfa-hint').textContent = recovery
    ? 'Enter one of the recovery codes you saved when you turned on two-step verification. Each works once.'
    : 'Enter the 6-digit code from your authenticator app.';
  $('mfa-switch').textContent = recovery ? 'Use the authenticator app instead' : 'Use a recovery code instead';
}

onSubmit('signin-form', async (form) => {
  const r = await api('POST', '/auth/login', { email: value(form, 'email').trim(), password: value(form, 'password') });
  if (!r.ok) return fail(form, r, 'signin');
  form.reset();
  if (r.body.data.mfa_required) {
    state.mfaToken = r.body.data.mfa_token;
    setRecovery(false);
    say('');
    clearErrors($('mfa-form'));
    return show('mfa');
  }
  await enter('', true);
});

onSubmit('mfa-form', async (form) => {
  // Checked here first: a code of the wrong shape would use up one of the sign-in's few tries.
  const entered = $('mfa-code').value.replace(/\s+/g, '');
  const shape = state.recovery ? /^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$/ : /^\d{6}$/;
  if (!shape.test(entered)) {
    const want = state.recovery ? 'must look like xxxxx-xxxxx' : 'must be the 6 digits your app shows';
    return failFields(form, [[state.recovery ? 'recovery_code' : 'code', want]]);
  }
  const body = { mfa_token: state.mfaToken || '' };
  body[state.recovery ? 'recovery_code' : 'code'] = entered;
  const r = await api('POST', '/auth/login/mfa', body);
  if (!r.ok) return fail(form, r, 'mfa');
  state.mfaToken = null;
  form.reset();
  await enter('', true);
});

$('mfa-switch').addEventListener('click', () => {
  setRecovery(!state.recovery);
  clearErrors($('mfa-form'));
  $('mfa-code').focus();
});

// ---- registration

// The service serves this document with `data-registration="shut"` when it takes no
// registrations: then nothing here offers the form.
if (document.documentElement.dataset.registration !== 'open') $('register-offer').remove();

onSubmit('register-form', async (form) => {
  const problems = newPasswordProblems(form, 'password');
  if (problems.length) return failFields(form, problems);
  const r = await api('POST', '/auth/register', {
    email: value(form, 'email').trim(),
    username: value(form, 'username').trim(),
    password: value(form, 'password'),
    full_name: value(form, 'full_name').trim(),
  });
  if (!r.ok) return fail(form, r, 'register');
  // The address as the service keeps it, ready to sign in with.
  const email = r.body.data.email;
  form.reset();
  show('signin', false);
  $('signin-email').value = email;
  say(`Your account is ready. Check your mail: we sent a link to ${email} to confirm that the address is yours.`);
  $('notice').focus();
});

// Leaves nothing of the account on the page: lists, profile, codes, the TOTP key, typed text.
function signedOut(message, failure = false) {
  state.me = null;
  state.mfaToken = null;
  for (const id of ['sessions', 'history', 'recovery-codes']) $(id).replaceChildren();
  for (const id of ['me-name', 'me-email', 'me-username', 'me-created', 'me-verified']) $(id).textContent = '';
  clearTotpKey();
  clearExport();
  resetForms();
  show('signin');
  say(message, failure);
}

onClick($('sign-out'), async () => {
  const r = await api('POST', '/auth/logout');
  if (!r.ok && r.status !== 401) return say(sentence(r), true);
  signedOut('You are signed out.');
});

for (const button of document.querySelectorAll('[data-go]')) {
  button.addEventListener('click', () => {
    state.mfaToken = null;
    resetForms();
    say('');
    show(button.dataset.go);
  });
}

// ---- mailed links

onSubmit('forgot-form', async (form) => {
  const r = await api('POST', '/auth/password/forgot', { email: value(form, 'email').trim() });
  if (!r.ok) return fail(form, r, 'forgot');
  form.reset();
  say('If an account uses this email address, a link to reset its password is on its way. Check your inbox.');
});

onSubmit('reset-form', async (form) => {
  const problems = newPasswordProblems(form);
  if (problems.length) return failFields(form, problems);
  if (!state.linkToken) {
    form.querySelector('.error').textContent = NO_TOKEN;
    return;
  }
  const r = await api('POST', '/auth/password/reset', { token: state.linkToken, new_password: value(form, 'new_password') });
  if (!r.ok) return fail(form, r, 'reset');
  state.linkToken = null;
  form.reset();
  window.history.replaceState(null, '', '/account');
  show('signin');
  say('Your password is changed, and every session of your account is signed out. Sign in with the new password.');
});

// A link whose page only hands its token to `path`, once, and shows `view` with what `outcome`
// makes of the answer. Neither needs a session.
async function follow(view, path, outcome) {
  show(view, false);
  const result = $(`${view}-result`);
  if (!state.linkToken) {
    result.textContent = NO_TOKEN;
    return;
  }
  const r = await api('POST', path, { token: state.linkToken });
  state.linkToken = null;
  result.textContent = outcome(r);
  result.className = r.ok ? '' : 'error';
}

const verify = () => follow('verify', '/auth/email/verify',
  (r) => (r.ok ? 'Your email address is verified. Thank you.' : sentence(r, 'verify')));

const confirmEmail = () => follow('email', '/auth/email/change', (r) => {
  if (r.ok) return `Your email address is now ${r.body.data.email}. Sign in with it from now on.`;
  if (r.status === 409) {
    return 'Another account took this address after you asked for it, so your email address has not changed. Ask again with another address.';
  }
  return sentence(r, 'email');
});

// ---- the account

// Shows the account of the session, if there is one. `afterLogin`: a login has just succeeded,
// so a 401 means the browser did not keep the session cookie.
async function enter(message, afterLogin = false) {
  const r = await api('GET', '/auth/user/me');
  if (r.status === 401) {
    show('signin', afterLogin);
    if (afterLogin) say('You were signed in, but this browser did not keep the sign-in cookie. Allow cookies for this site and try again.', true);
    return;
  }
  if (!r.ok) {
    show('signin', false);
    return say(sentence(r), true);
  }
  state.me = r.body.data.user;
  renderProfile();
  renderTotp();
  show('account');
  say(message);
  await Promise.all([loadSessions(), loadHistory(1)]);
}

// After a 409 the page's picture of the account is out of date: read it again, then say why.
async function conflict(r) {
  const me = await api('GET', '/auth/user/me');
  if (me.ok) {
    state.me = me.body.data.user;
    renderProfile();
    renderTotp();
  }
  say(sentence(r), true);
  $('totp-title').focus();
}

function totpFail(form, r) {
  return r.status === 409 ? conflict(r) : fail(form, r, 'account');
}

function accountFail(r, context) {
  if (r.status === 401) return signedOut(sentence(r), true);
  say(sentence(r, context), true);
}

function renderProfile() {
  const me = state.me;
  $('me-name').textContent = me.full_name;
  $('me-email').textContent = me.email;
  $('me-username').textContent = me.username;
  $('me-created').replaceChildren(when(me.created_at));
  const badge = $('me-verified');
  badge.textContent = me.email_verified ? 'Verified' : 'Not verified';
  badge.className = me.email_verified ? 'badge good' : 'badge bad';
  $('resend-row').hidden = me.email_verified;
}

onClick($('resend'), async () => {
  const r = await api('POST', '/auth/email/verify/resend');
  if (!r.ok) return accountFail(r);
  say(r.body.data.email_verified ? 'Your email address is already verified.'
    : `A new verification link is on its way to ${state.me.email}.`);
});

async function loadSessions() {
  const r = await api('GET', '/auth/user/sessions');
  if (!r.ok) return accountFail(r);
  const items = r.body.data.sessions.map((s) => {
    const li = el('li');
    const title = el('strong', s.device_info || 'Unknown device');
    title.id = `session-${s.id}`;
    const head = el('div', null);
    head.append(title);
    if (s.current_session) head.append(' ', el('span', 'This device', 'badge good'));
    const where = el('div', [s.location || 'Unknown location', s.ip_address].filter(Boolean).join(' · '), 'meta');
    const times = el('div', null, 'meta');
    times.append('Last active ', when(s.last_activity), ' · signed in ', when(s.created_at));
    if (s.mfa) times.append(' with two-step verification');
    li.append(head, where, times);
    if (!s.current_session) {
      const end = el('button', 'Sign out this session', 'quiet');
      end.type = 'button';
      end.setAttribute('aria-describedby', title.id);
      end.addEventListener('click', () => endSession(s.id, end));
      li.append(end);
    }
    return li;
  });
  $('sessions').replaceChildren(...items);
  $('end-others').hidden = items.length < 2;
}

async function endSession(id, button) {
  button.disabled = true;
  const r = await api('DELETE', `/auth/user/sessions/${encodeURIComponent(id)}`);
  if (r.ok && r.body.data.current_session) return signedOut('You are signed out.');
  if (!r.ok && r.status !== 404) {
    button.disabled = false;
    return accountFail(r, 'session');
  }
  say(r.ok ? 'The session is signed out.' : sentence(r, 'session'));
  await loadSessions();
  $('sessions-title').focus();
}

onClick($('end-others'), async () => {
  const r = await api('DELETE', '/auth/user/sessions');
  if (!r.ok) return accountFail(r);
  const n = r.body.data.revoked;
  say(n === 1 ? 'One other session is signed out.' : `${n} other sessions are signed out.`);
  await loadSessions();
  $('sessions-title').focus();
});

onSubmit('password-form', async (form) => {
  const problems = newPasswordProblems(form);
  if (problems.length) return failFields(form, problems);
  const r = await api('POST', '/auth/user/password', {
    current_password: value(form, 'current_password'),
    new_password: value(form, 'new_password'),
  });
  if (!r.ok) return fail(form, r, 'account');
  form.reset();
  const n = r.body.data.revoked;
  const ended = n === 0 ? '' : n === 1 ? ' One other session was signed out.' : ` ${n} other sessions were signed out.`;
  say(`Your password is changed.${ended}`);
  await loadSessions();
});

// ---- two-step verification

function renderTotp() {
  const on = state.me.mfa_enabled;
  $('totp-state').textContent = on
    ? 'On: signing in asks for a code from your authenticator app after the password.'
    : 'Off: signing in asks only for your password.';
  $('totp-on-form').hidden = on;
  $('codes-form').hidden = !on;
  $('totp-off-form').hidden = !on;
  $('delete-factor').hidden = !on;
  $('totp-enrol').hidden = true;
  $('totp-codes').hidden = true;
  $('recovery-codes').replaceChildren();
  clearTotpKey();
}

// The pending key leaves the page: its text, its otpauth link, its QR code.
function clearTotpKey() {
  if (state.qrUrl) URL.revokeObjectURL(state.qrUrl);
  state.qrUrl = null;
  $('totp-qr').removeAttribute('src');
  $('totp-secret').textContent = '';
  $('totp-uri').setAttribute('href', '#');
  clearErrors($('totp-confirm-form'));
}

$('totp-cancel').addEventListener('click', () => {
  renderTotp();
  $('totp-title').focus();
});

function showRecoveryCodes(codes) {
  $('recovery-codes').replaceChildren(...codes.map((c) => el('li', c)));
  for (const id of ['totp-on-form', 'codes-form', 'totp-off-form', 'totp-enrol']) $(id).hidden = true;
  $('totp-codes').hidden = false;
  $('codes-hint').focus();
}

onSubmit('totp-on-form', async (form) => {
  const r = await api('POST', '/auth/user/totp', { password: value(form, 'password') });
  if (!r.ok) return totpFail(form, r);
  form.reset();
  form.hidden = true;
  const d = r.body.data;
  // An SVG shown as an image cannot run anything; it is never parsed into the page.
  state.qrUrl = URL.createObjectURL(new Blob([d.qr_svg], { type: 'image/svg+xml' }));
  $('totp-qr').src = state.qrUrl;
  $('totp-secret').textContent = d.secret.match(/.{1,4}/g).join(' ');
  $('totp-uri').href = d.otpauth_uri;
  $('totp-enrol').hidden = false;
  $('totp-code').focus();
});

onSubmit('totp-confirm-form', async (form) => {
  const r = await api('POST', '/auth/user/totp/confirm', { code: value(form, 'code').replace(/\s+/g, '') });
  if (!r.ok) return totpFail(form, r);
  form.reset();
  state.me.mfa_enabled = true;
  $('totp-state').textContent = 'On: signing in asks for a code from your authenticator app after the password.';
  $('delete-factor').hidden = false;
  showRecoveryCodes(r.body.data.recovery_codes);
  say('Two-step verification is on.');
});

onSubmit('codes-form', async (form) => {
  const r = await api('POST', '/auth/user/recovery-codes', { password: value(form, 'password') });
  if (!r.ok) return totpFail(form, r);
  form.reset();
  showRecoveryCodes(r.body.data.recovery_codes);
  say('New recovery codes are ready; the old ones no longer work.');
});

onSubmit('totp-off-form', async (form) => {
  const r = await api('DELETE', '/auth/user/totp', { password: value(form, 'password') });
  if (!r.ok) return totpFail(form, r);
  form.reset();
  state.me.mfa_enabled = false;
  renderTotp();
  say('Two-step verification is off.');
  $('totp-title').focus();
});

$('codes-done').addEventListener('click', () => {
  $('recovery-codes').replaceChildren();
  renderTotp();
  $('totp-title').focus();
});

// ---- the account's email, data and end

onSubmit('email-form', async (form) => {
  const r = await api('POST', '/auth/user/email', {
    new_email: value(form, 'new_email').trim(),
    password: value(form, 'password'),
  });
  if (!r.ok) return fail(form, r, 'account');
  form.reset();
  const d = r.body.data;
  say(`We sent a link to ${d.new_email}. Nothing changes until you open it: until then your email address stays ${d.email}.`);
  $('notice').focus();
});

// The downloaded file leaves the page's memory.
function clearExport() {
  if (state.exportUrl) URL.revokeObjectURL(state.exportUrl);
  state.exportUrl = null;
}

// Saved as the service sent it, under the name it gives, through a link to a `blob:` URL:
// the session cookie stays with fetch, and the policy governs no downloads.
onClick($('export'), async () => {
  const r = await api('GET', '/auth/user/export');
  if (!r.ok) return accountFail(r);
  const named = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') || '');
  clearExport();
  state.exportUrl = URL.createObjectURL(new Blob([r.text], { type: 'application/json' }));
  const link = el('a');
  link.href = state.exportUrl;
  link.download = named ? named[1] : 'account.json';
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  say(`Your data is saved by your browser as ${link.download}.`);
});

onSubmit('delete-form', async (form) => {
  const factor = $('delete-code');
  const entered = factor.value.replace(/\s+/g, '');
  // One field takes both: digits are the app's code, anything else a recovery code. The
  // field's name follows, so the service's answer about it is shown there.
  factor.name = /^\d*$/.test(entered) ? 'code' : 'recovery_code';
  const mfa = state.me.mfa_enabled;
  const problems = [];
  if (!value(form, 'password')) problems.push(['password', 'is required']);
  if (mfa && !entered) problems.push(['code', 'is required while two-step verification is on']);
  if (value(form, 'confirm').trim() !== 'DELETE') problems.push(['confirm', 'must be the word DELETE, in capital letters']);
  if (problems.length) return failFields(form, problems);
  const body = { password: value(form, 'password') };
  if (mfa) body[factor.name] = entered;
  const r = await api('DELETE', '/auth/user', body);
  const fields = r.body && r.body.error && r.body.error.fields;
  if (r.status === 400 && Array.isArray(fields) && fields.some((f) => f.field === 'code')) {
    // Turned on since this page read the account: the field is shown and asked for now.
    state.me.mfa_enabled = true;
    $('delete-factor').hidden = false;
    return failFields(form, [['code', 'is required while two-step verification is on']]);
  }
  if (!r.ok) return fail(form, r, 'account');
  signedOut('Your account is deleted. Everything kept about it is gone, and you are signed out.');
  $('notice').focus();
});

// ---- sign-in history

async function loadHistory(page) {
  const r = await api('GET', `/auth/user/logins?page=${page}&per_page=${PER_PAGE}`);
  if (!r.ok) return accountFail(r);
  const d = r.body.data;
  const pages = Math.max(1, Math.ceil(d.total / d.per_page));
  state.page = d.page;
  const rows = d.logins.map((a) => {
    const tr = el('tr');
    const cells = [when(a.created_at), OUTCOMES[a.outcome] || a.outcome, a.device_info, a.location, a.ip_address];
    for (const c of cells) {
      const td = el('td');
      td.append(c || '—');
      tr.append(td);
    }
    return tr;
  });
  if (rows.length === 0) {
    const td = el('td', 'No sign-ins yet.');
    td.colSpan = 5;
    rows.push(el('tr'));
    rows[0].append(td);
  }
  $('history').replaceChildren(...rows);
  $('history-page').textContent = `Page ${d.page} of ${pages}`;
  const [prev, next] = [$('history-prev'), $('history-next')];
  const focused = document.activeElement;
  prev.disabled = d.page <= 1;
  next.disabled = d.page >= pages;
  // Keyboard focus never falls off a button that has just been disabled.
  if (focused === prev && prev.disabled && !next.disabled) next.focus();
  if (focused === next && next.disabled && !prev.disabled) prev.focus();
}

onClick($('history-prev'), () => loadHistory(state.page - 1));
onClick($('history-next'), () => loadHistory(state.page + 1));

// ---- start

function start() {
  const path = location.pathname.replace(/\/+$/, '');
  if (path === '/account/reset' || path === '/account/verify' || path === '/account/email') {
    const params = new URLSearchParams(location.search);
    state.linkToken = params.get('token');
    // The token leaves the address bar and the history at once.
    if (params.has('token')) window.history.replaceState(null, '', path);
  }
  if (path === '/account/reset') {
    show('reset', false);
    // Said at once, not after a password has been typed.
    if (!state.linkToken) $('reset-form').querySelector('.error').textContent = NO_TOKEN;
    return;
  }
  if (path === '/account/verify') return verify();
  if (path === '/account/email') return confirmEmail();
  return enter('');
}

start();

// A page restored from the back-forward cache shows what it showed when left: read it again.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) start();
});
