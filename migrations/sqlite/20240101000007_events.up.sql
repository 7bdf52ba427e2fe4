-- As migrations/20240101000009_events.up.sql for PostgreSQL; times are Unix milliseconds.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    user_id    TEXT,
    at         INTEGER NOT NULL,
    ip_address TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_at ON events (at);

ALTER TABLE mail_outbox RENAME TO outbox;
DROP INDEX mail_outbox_recipient;
DROP INDEX mail_outbox_due;
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'mail' CHECK (kind IN ('mail', 'webhook'));
ALTER TABLE outbox ADD COLUMN event_id INTEGER REFERENCES events (id) ON DELETE CASCADE;
ALTER TABLE outbox ADD COLUMN order_key TEXT;
CREATE INDEX outbox_recipient ON outbox (lower(recipient));
CREATE INDEX outbox_due ON outbox (kind, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_order ON outbox (order_key, id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_event ON outbox (event_id);
