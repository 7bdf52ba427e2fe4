DELETE FROM user_tokens WHERE purpose = 'mfa_login';
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_verification'));
UPDATE login_attempts SET outcome = 'success' WHERE outcome = 'recovery_code';
UPDATE login_attempts SET outcome = 'invalid_credentials' WHERE outcome = 'mfa_failed';
ALTER TABLE login_attempts DROP CONSTRAINT login_attempts_outcome_check;
ALTER TABLE login_attempts ADD CONSTRAINT login_attempts_outcome_check
    CHECK (outcome IN ('success', 'invalid_credentials', 'locked'));
DROP TABLE recovery_codes;
ALTER TABLE users DROP COLUMN totp_secret, DROP COLUMN totp_enabled, DROP COLUMN totp_last_step;
