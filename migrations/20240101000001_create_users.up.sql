-- Accounts. Emails are stored lower-cased by the service; the unique indexes on lower()
-- make uniqueness case-insensitive even for rows written by other tools.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    username      text NOT NULL,
    full_name     text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login    timestamptz
);

-- The store maps a violation of these names to a 409 naming the field, so a race between
-- two registrations is settled by the database, not by a check before the insert.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
