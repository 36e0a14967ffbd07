-- Outgoing mail. A notification is written here in the same transaction
-- as the change that causes it, so it exists exactly when its cause was
-- committed; a worker sends it later. The SQLite flavour in ../sqlite differs
-- only in the type of generated ids; keep them in step.
--
-- state: queued (waiting, perhaps for a retry at next_attempt_at),
-- sending (claimed by a worker until next_attempt_at; a worker that died
-- leaves it to be claimed again), sent, failed (given up, with the
-- reason), suppressed (never sent: muted, loop guard, hourly cap).
-- The message is rendered once, at the first attempt, and kept in raw, so
-- every retry sends the same bytes with the same Message-ID.

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    entry_id BIGINT REFERENCES entries (id),
    template TEXT NOT NULL,
    recipient_id BIGINT NOT NULL REFERENCES persons (id),
    recipient_email TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    subject TEXT,
    message_id TEXT,
    raw TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
-- The worker's queue: only rows still to do are in it.
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state IN ('queued', 'sending');
-- The desk's list of a ticket's mails.
CREATE INDEX outbox_by_ticket ON outbox (ticket_id, id);
-- The hourly cap per recipient.
CREATE INDEX outbox_sent_to ON outbox (recipient_email, sent_at) WHERE state = 'sent';

-- Templates a person does not want (the manual's "E-Mail-Blacklist").
-- The solution mail cannot be muted; the rule is in the domain.
CREATE TABLE muted_templates (
    person_id BIGINT NOT NULL REFERENCES persons (id),
    template TEXT NOT NULL,
    PRIMARY KEY (person_id, template)
);

-- Random keys of this installation, made on first use and shared by every
-- instance on the same database: the key that signs our Message-IDs.
CREATE TABLE installation_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
