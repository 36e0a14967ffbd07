-- Ticketwerk schema, PostgreSQL flavour. The SQLite flavour in
-- ../sqlite differs only in the type of generated ids; keep them in step.
-- Times are Unix seconds (BIGINT); flags are 0/1 (BIGINT) so one query text
-- serves both databases.

CREATE TABLE business_partners (
    id BIGSERIAL PRIMARY KEY,
    customer_number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE persons (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'de',
    is_agent BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    password_hash TEXT,
    totp_secret TEXT,
    totp_pending_secret TEXT,
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    person_id BIGINT NOT NULL REFERENCES persons (id),
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    authorised BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (person_id, business_partner_id)
);
CREATE INDEX memberships_by_partner ON memberships (business_partner_id, person_id);

CREATE TABLE recovery_codes (
    person_id BIGINT NOT NULL REFERENCES persons (id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (person_id, code_hash)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    stage TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    second_factor_failures BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_person ON sessions (person_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

CREATE TABLE services (
    id BIGSERIAL PRIMARY KEY,
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX services_by_partner ON services (business_partner_id, name);

CREATE TABLE systems (
    id BIGSERIAL PRIMARY KEY,
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    inventory_number TEXT NOT NULL DEFAULT '',
    person_id BIGINT REFERENCES persons (id)
);
CREATE INDEX systems_by_partner ON systems (business_partner_id, name);

CREATE TABLE ticket_counters (
    year BIGINT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    is_open BIGINT NOT NULL,
    reported_by BIGINT NOT NULL REFERENCES persons (id),
    reported_for BIGINT NOT NULL REFERENCES persons (id),
    reference TEXT NOT NULL DEFAULT '',
    short_text TEXT NOT NULL,
    description TEXT NOT NULL,
    impact TEXT NOT NULL,
    urgency TEXT NOT NULL,
    ticket_type TEXT NOT NULL,
    priority BIGINT NOT NULL,
    service_id BIGINT REFERENCES services (id),
    system_id BIGINT REFERENCES systems (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One index per list: mine (as reporter and as the person reported for),
-- my business partner's, the desk's, the desk's new calls.
CREATE INDEX tickets_by_reporter ON tickets (reported_by, is_open, updated_at, id);
CREATE INDEX tickets_by_reported_for ON tickets (reported_for, is_open, updated_at, id);
CREATE INDEX tickets_by_partner ON tickets (business_partner_id, is_open, updated_at, id);
CREATE INDEX tickets_by_state ON tickets (is_open, updated_at, id);
CREATE INDEX tickets_by_status_kind ON tickets (status, kind, updated_at, id);

CREATE TABLE entries (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    author_id BIGINT REFERENCES persons (id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX entries_by_ticket ON entries (ticket_id, id);

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    entry_id BIGINT REFERENCES entries (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    uploaded_by BIGINT NOT NULL REFERENCES persons (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_by_ticket ON attachments (ticket_id, id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    person_id BIGINT REFERENCES persons (id),
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
