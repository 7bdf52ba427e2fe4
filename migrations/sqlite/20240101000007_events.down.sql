-- SQLite cannot drop a column with a foreign key: the outbox is rebuilt as it was, with its mail.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT
);
INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at,
                         locked_until, sent_at, failed_at, last_error)
    SELECT id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at,
           locked_until, sent_at, failed_at, last_error FROM outbox WHERE kind = 'mail';
DROP TABLE outbox;
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient));
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
DROP TABLE events;
