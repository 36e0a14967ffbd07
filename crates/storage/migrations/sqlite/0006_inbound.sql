-- Incoming mail. The PostgreSQL flavour in ../postgres differs only in the
-- type of generated ids; keep them in step.
--
-- Every message is stored once: `content_key` is the SHA-256 of its raw
-- bytes, `message_key` the SHA-256 of its Message-ID when it has one, and
-- a message that matches either is a duplicate. Hashes, not the ids
-- themselves, so the unique indexes never meet an over-long value. The
-- raw bytes live in the file store under `raw_key`.
--
-- `fate` says where it ended (entry, new_call, held, discarded; see
-- `MailFate`); a held message has a `reason` (`HoldReason`) and, when it
-- could not be read, the parser's words in `detail`. The ticket, entry and
-- sender person are recorded when known, written in the same transaction
-- as the entry or call they made.

CREATE TABLE inbound_mails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_key TEXT NOT NULL UNIQUE,
    message_key TEXT UNIQUE,
    message_id TEXT,
    sender TEXT NOT NULL DEFAULT '',
    sender_name TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    sent_at BIGINT,
    received_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
    raw_key TEXT NOT NULL UNIQUE,
    automatic TEXT,
    fate TEXT NOT NULL,
    reason TEXT,
    detail TEXT NOT NULL DEFAULT '',
    ticket_id BIGINT REFERENCES tickets (id),
    entry_id BIGINT REFERENCES entries (id),
    person_id BIGINT REFERENCES persons (id),
    resolved_by BIGINT REFERENCES persons (id),
    resolved_at BIGINT
);
-- The desk's list of held mail, newest first, paged by keyset.
CREATE INDEX inbound_mails_by_fate ON inbound_mails (fate, received_at, id);
-- The mail behind the entries of a ticket's timeline.
CREATE INDEX inbound_mails_by_ticket ON inbound_mails (ticket_id, entry_id);
