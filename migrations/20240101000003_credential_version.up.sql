-- Raised by every password change. A login reads it with the password hash, and the session
-- store refuses a session for a version older than the newest it was told of, so a login that
-- verified the old password while the password changed cannot leave a session behind.
ALTER TABLE users ADD COLUMN credential_version bigint NOT NULL DEFAULT 0;
