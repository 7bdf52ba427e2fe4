DROP INDEX mail_outbox_recipient;
DELETE FROM user_tokens WHERE purpose = 'email_change';
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login'));
ALTER TABLE user_tokens DROP COLUMN detail;
DROP INDEX users_created;
DROP INDEX users_username_prefix;
DROP INDEX users_email_prefix;
ALTER TABLE users DROP COLUMN disabled;
