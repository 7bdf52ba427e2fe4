-- The account's whole life: operators disable accounts and find them by the start of an email
-- or username; people change their email, confirmed from the new address.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;

-- Prefix searches (LIKE 'ada%') use these whatever the database's collation, and pages come in
-- creation order, so accounts created while an operator pages come after the cursor.
CREATE INDEX users_email_prefix ON users (lower(email) text_pattern_ops);
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);
CREATE INDEX users_created ON users (created_at, id);

-- A pending email change keeps its new address beside its token.
ALTER TABLE user_tokens ADD COLUMN detail text;
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_verification', 'mfa_login', 'email_change'));

-- Erasing an account deletes the mail still queued to its address.
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient));
