-- The second factor. The TOTP secret is sealed by the host's keyring before it gets here
-- (base64 text); it is pending until totp_enabled. totp_last_step is the last accepted time
-- step: a code is accepted only for a later step, so it cannot be replayed.
ALTER TABLE users
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

-- Recovery codes, as the hex SHA-256 of each; one is used up by deleting its row.
CREATE TABLE recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

ALTER TABLE login_attempts DROP CONSTRAINT login_attempts_outcome_check;
ALTER TABLE login_attempts ADD CONSTRAINT login_attempts_outcome_check
    CHECK (outcome IN ('success', 'invalid_credentials', 'locked', 'recovery_code', 'mfa_failed'));

ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login'));
