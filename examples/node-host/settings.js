// The component's settings: which of this process's environment variables it sees.

/**
 * The variables the component reads (`SETTINGS` in contract/src/http.rs; test.mjs checks they agree); nothing else is passed.
 * A variable an older component does not know is simply not read.
 */
export const GUEST_VARS = [
  'APP_ENV',
  'SESSION_LIFETIME',
  'SESSION_COOKIE_NAME',
  'SESSION_COOKIE_SECURE',
  'PASSWORD_HASH',
  'ARGON2_MEMORY_KIB',
  'ARGON2_ITERATIONS',
  'ARGON2_PARALLELISM',
  'BCRYPT_COST',
  'LOGIN_MAX_ATTEMPTS',
  'LOGIN_LOCKOUT_WINDOW',
  'LOGIN_IP_MAX_ATTEMPTS',
  'LOGIN_IP_WINDOW',
  'SESSION_IDLE_TIMEOUT',
  'MAX_SESSIONS_PER_USER',
  'PASSWORD_CHANGE_ENDS_SESSIONS',
  'TRUSTED_PROXIES',
  'ALLOWED_ORIGINS',
  'PUBLIC_URL',
  'LOGIN_HISTORY_RETENTION',
  'LOGIN_HISTORY_MAX',
  'SERVICE_NAME',
  'RESET_TOKEN_LIFETIME',
  'VERIFICATION_TOKEN_LIFETIME',
  'REQUIRE_VERIFIED_EMAIL',
  'RECOVERY_MAX_PER_EMAIL',
  'RECOVERY_MAX_PER_MAILBOX',
  'RECOVERY_MAX_PER_ADDRESS',
  'RECOVERY_WINDOW',
  'TOTP_ISSUER',
  'ADMIN_TOKEN',
  'REGISTRATION_ENABLED',
];

export function guestEnv(env = process.env) {
  const out = {};
  for (const name of GUEST_VARS) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

