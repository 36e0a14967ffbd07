-- Master data kept by the desk: departments and locations of business
-- partners, contracts naming authorised persons for a time, services and
-- systems that can be retired, and a change log of who changed what. The
-- SQLite flavour in ../sqlite differs only in the type of generated
-- ids; keep them in step.
--
-- Times are Unix seconds. A contract or authorisation is in force from
-- `starts_at` (inclusive) until `ends_at` (exclusive, NULL: open-ended);
-- the desk enters dates, which become the start of that day in the
-- provider's time zone. Ending one "now" sets `ends_at` to the moment.

CREATE TABLE partner_units (
    id BIGSERIAL PRIMARY KEY,
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (business_partner_id, kind, name)
);

ALTER TABLE memberships ADD COLUMN unit_id BIGINT REFERENCES partner_units (id);

CREATE TABLE contracts (
    id BIGSERIAL PRIMARY KEY,
    business_partner_id BIGINT NOT NULL REFERENCES business_partners (id),
    name TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX contracts_by_partner ON contracts (business_partner_id, starts_at, id);

CREATE TABLE authorisations (
    id BIGSERIAL PRIMARY KEY,
    contract_id BIGINT NOT NULL REFERENCES contracts (id),
    person_id BIGINT NOT NULL REFERENCES persons (id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX authorisations_by_person ON authorisations (person_id, contract_id);
CREATE INDEX authorisations_by_contract ON authorisations (contract_id, id);

-- What the membership flag said becomes a contract per business partner,
-- in force from the start of time, naming the same persons.
INSERT INTO contracts (business_partner_id, name, starts_at, ends_at, created_at)
SELECT DISTINCT business_partner_id, 'Rahmenvertrag', 0, CAST(NULL AS BIGINT), 0
FROM memberships WHERE authorised = 1;
INSERT INTO authorisations (contract_id, person_id, starts_at, ends_at, created_at)
SELECT c.id, m.person_id, 0, CAST(NULL AS BIGINT), 0
FROM memberships m JOIN contracts c ON c.business_partner_id = m.business_partner_id
WHERE m.authorised = 1;
ALTER TABLE memberships DROP COLUMN authorised;

ALTER TABLE services ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
ALTER TABLE systems ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
CREATE INDEX systems_by_user ON systems (person_id);

-- The desk's lists of persons and business partners, by name.
CREATE INDEX persons_by_name ON persons (name, id);
CREATE INDEX business_partners_by_name ON business_partners (name, id);

CREATE TABLE change_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES persons (id),
    -- The business partner the change belongs to, for its history page;
    -- NULL for a person's own data.
    business_partner_id BIGINT REFERENCES business_partners (id),
    object_kind TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    -- JSON: [[field, old, new], …]
    changes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX change_log_by_partner ON change_log (business_partner_id, id);
CREATE INDEX change_log_by_object ON change_log (object_kind, object_id, id);

-- The desk's search of persons (a substring of name or address) through
-- trigrams, as the quick search of tickets does (pg_trgm is created by
-- 0003). SQLite scans the persons table instead: some 5 ms at 20,000.
CREATE INDEX persons_search ON persons USING gin (lower(name) gin_trgm_ops, lower(email) gin_trgm_ops);
