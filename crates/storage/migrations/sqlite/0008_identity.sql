-- Sign-in through identity providers and passkeys. The PostgreSQL flavour
-- in ../postgres differs only in the type of generated ids; keep them in
-- step.

-- An external identity linked to a person: the provider's configured name
-- and its stable subject (for Entra ID "tenant id/object id"), never an
-- email address. `label` is what the desk and the person see of it (the
-- email the provider last named), nothing is decided by it.
CREATE TABLE external_identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    linked_at BIGINT NOT NULL,
    linked_by BIGINT REFERENCES persons (id),
    last_used_at BIGINT,
    UNIQUE (provider, subject)
);
CREATE INDEX external_identities_by_person ON external_identities (person_id, id);

-- The desk invites a person to link their account at a provider; the
-- person accepts while signed in, by signing in at the provider.
CREATE TABLE identity_invitations (
    person_id BIGINT NOT NULL REFERENCES persons (id),
    provider TEXT NOT NULL,
    invited_by BIGINT NOT NULL REFERENCES persons (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, provider)
);

-- A started OIDC sign-in, found by the hash of its `state` and bound to
-- the browser that started it by the hash of a cookie. Used once.
CREATE TABLE oidc_flows (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- Set when a signed-in person links their own account.
    link_person_id BIGINT REFERENCES persons (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_flows_by_age ON oidc_flows (created_at);

-- Passkeys: the public key credential as the WebAuthn library keeps it
-- (public key, counter), found by its credential id.
CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_person ON passkeys (person_id, id);

-- The state of a WebAuthn ceremony between its two requests, one per
-- session and purpose; it ends with the session.
CREATE TABLE webauthn_ceremonies (
    session_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_hash, purpose)
);

-- The desk reads the audit log newest first, and a person's own.
CREATE INDEX audit_log_by_person ON audit_log (person_id, id);
