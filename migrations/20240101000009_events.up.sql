-- Events: every change to an account or its sessions, written in the request that makes it
-- (API.md, "Events"). A deleted account's events keep its id, type and time; their data and
-- address are emptied. Rows older than EVENT_RETENTION are swept by the host.
CREATE TABLE events (
    id         bigserial PRIMARY KEY,
    type       text NOT NULL,
    user_id    uuid,
    at         timestamptz NOT NULL,
    ip_address text NOT NULL DEFAULT '',
    data       text NOT NULL DEFAULT '{}'
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_at ON events (at);

-- One outbox, two kinds of message: mail, and the webhook delivery of an event. A delivery is
-- written with its event, held until the request that wrote it has ended (the host releases it
-- then; a Spin deployment's hold runs out on its own), and goes out after every earlier
-- undelivered message of its order key (the account): deliveries of one account leave in order.
ALTER TABLE mail_outbox RENAME TO outbox;
ALTER INDEX mail_outbox_recipient RENAME TO outbox_recipient;
DROP INDEX mail_outbox_due;
ALTER TABLE outbox ADD COLUMN kind text NOT NULL DEFAULT 'mail' CHECK (kind IN ('mail', 'webhook'));
ALTER TABLE outbox ADD COLUMN event_id bigint REFERENCES events (id) ON DELETE CASCADE;
ALTER TABLE outbox ADD COLUMN order_key text;
CREATE INDEX outbox_due ON outbox (kind, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_order ON outbox (order_key, id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_event ON outbox (event_id);
-- A queue grows and empties fast (a receiver away for an hour leaves tens of thousands of
-- deliveries): keep its statistics fresh, so claims keep probing the order index.
ALTER TABLE outbox SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
