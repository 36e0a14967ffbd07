//! External identities, invitations to link one, started OIDC sign-ins,
//! passkeys, WebAuthn ceremonies and the audit log as the desk reads it.

use sqlx::Row;
use sqlx::any::AnyRow;
use ticketwerk_domain::{DomainError, Id, Timestamp};

use crate::{Context, Result, Store};

/// An external identity linked to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub id: Id,
    pub person: Id,
    pub provider: String,
    pub subject: String,
    /// The email the provider named when last seen; shown, never trusted.
    pub label: String,
    pub linked_at: Timestamp,
    pub linked_by: Option<Id>,
    pub last_used_at: Option<Timestamp>,
}

/// A started OIDC sign-in, between the redirect and the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcFlow {
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub link_person: Option<Id>,
    pub created_at: Timestamp,
}

/// A passkey of a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: Id,
    pub name: String,
    pub credential_id: String,
    /// The credential as the WebAuthn library serialises it.
    pub credential: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// One line of the audit log, with the person it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: Id,
    pub at: Timestamp,
    pub person: Option<Id>,
    pub person_name: Option<String>,
    pub person_email: Option<String>,
    pub event: String,
    pub detail: String,
}

const IDENTITY_COLUMNS: &str =
    "id, person_id, provider, subject, label, linked_at, linked_by, last_used_at";

fn identity(r: &AnyRow) -> Result<LinkedIdentity> {
    let c = "reading an external identity";
    Ok(LinkedIdentity {
        id: r.try_get("id").context(c)?,
        person: r.try_get("person_id").context(c)?,
        provider: r.try_get("provider").context(c)?,
        subject: r.try_get("subject").context(c)?,
        label: r.try_get("label").context(c)?,
        linked_at: r.try_get("linked_at").context(c)?,
        linked_by: r.try_get("linked_by").context(c)?,
        last_used_at: r.try_get("last_used_at").context(c)?,
    })
}

fn passkey(r: &AnyRow) -> Result<StoredPasskey> {
    let c = "reading a passkey";
    Ok(StoredPasskey {
        id: r.try_get("id").context(c)?,
        name: r.try_get("name").context(c)?,
        credential_id: r.try_get("credential_id").context(c)?,
        credential: r.try_get("credential").context(c)?,
        created_at: r.try_get("created_at").context(c)?,
        last_used_at: r.try_get("last_used_at").context(c)?,
    })
}

impl Store {
    /// Links an identity to a person and drops the person's invitation
    /// for that provider, in one transaction. An identity linked to
    /// someone else already is refused at the subject field; linking the
    /// same one to the same person again changes nothing.
    pub async fn link_identity(
        &self,
        person: Id,
        provider: &str,
        subject: &str,
        label: &str,
        by: Option<Id>,
        now: Timestamp,
    ) -> Result<LinkedIdentity> {
        let c = "linking an external identity";
        let mut tx = self.pool.begin().await.context(c)?;
        sqlx::query("DELETE FROM identity_invitations WHERE person_id = $1 AND provider = $2")
            .bind(person)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .context(c)?;
        let existing = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM external_identities \
             WHERE provider = $1 AND subject = $2"
        ))
        .bind(provider)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await
        .context(c)?;
        if let Some(row) = existing {
            let found = identity(&row)?;
            if found.person != person {
                return Err(DomainError::invalid("subject", "identity.taken").into());
            }
            tx.commit().await.context(c)?;
            return Ok(found);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO external_identities \
             (person_id, provider, subject, label, linked_at, linked_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {IDENTITY_COLUMNS}"
        ))
        .bind(person)
        .bind(provider)
        .bind(subject)
        .bind(label)
        .bind(now)
        .bind(by)
        .fetch_one(&mut *tx)
        .await
        .context(c)?;
        let linked = identity(&row)?;
        tx.commit().await.context(c)?;
        Ok(linked)
    }

    /// The person of an identity, recording the sign-in and the label the
    /// provider names now (an email may change; the person stays).
    pub async fn use_identity(
        &self,
        provider: &str,
        subject: &str,
        label: &str,
        now: Timestamp,
    ) -> Result<Option<Id>> {
        let row = sqlx::query(
            "UPDATE external_identities SET last_used_at = $3, label = $4 \
             WHERE provider = $1 AND subject = $2 RETURNING person_id",
        )
        .bind(provider)
        .bind(subject)
        .bind(now)
        .bind(label)
        .fetch_optional(&self.pool)
        .await
        .context("signing in with an external identity")?;
        row.map(|r| r.try_get("person_id"))
            .transpose()
            .context("signing in with an external identity")
    }

    pub async fn identities_of(&self, person: Id) -> Result<Vec<LinkedIdentity>> {
        let rows = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM external_identities \
             WHERE person_id = $1 ORDER BY id"
        ))
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .context("listing external identities")?;
        rows.iter().map(identity).collect()
    }

    /// Removes one of a person's identities; the removed one, if it was
    /// theirs.
    pub async fn unlink_identity(&self, person: Id, id: Id) -> Result<Option<LinkedIdentity>> {
        let row = sqlx::query(&format!(
            "DELETE FROM external_identities WHERE person_id = $1 AND id = $2 \
             RETURNING {IDENTITY_COLUMNS}"
        ))
        .bind(person)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("unlinking an external identity")?;
        row.as_ref().map(identity).transpose()
    }

    /// Invites a person to link their account at a provider, replacing an
    /// earlier invitation for it.
    pub async fn invite_identity(
        &self,
        person: Id,
        provider: &str,
        by: Id,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO identity_invitations \
             (person_id, provider, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (person_id, provider) DO UPDATE SET invited_by = $3, \
             created_at = $4, expires_at = $5",
        )
        .bind(person)
        .bind(provider)
        .bind(by)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .context("inviting to link an identity")?;
        Ok(())
    }

    /// The providers a person is invited to link, with the expiry.
    pub async fn invitations_of(
        &self,
        person: Id,
        now: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>> {
        let rows = sqlx::query(
            "SELECT provider, expires_at FROM identity_invitations \
             WHERE person_id = $1 AND expires_at > $2 ORDER BY provider",
        )
        .bind(person)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("listing invitations")?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("provider").context("listing invitations")?,
                    r.try_get("expires_at").context("listing invitations")?,
                ))
            })
            .collect()
    }

    pub async fn create_oidc_flow(
        &self,
        state_hash: &str,
        browser_hash: &str,
        flow: &OidcFlow,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_flows (state_hash, browser_hash, provider, nonce, pkce_verifier, \
             link_person_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .bind(&flow.provider)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(flow.link_person)
        .bind(flow.created_at)
        .execute(&self.pool)
        .await
        .context("starting an OIDC sign-in")?;
        Ok(())
    }

    /// Takes a started sign-in once: it is gone afterwards, whatever the
    /// outcome. Only the browser that started it, and only while it is
    /// younger than `not_before`, gets it.
    pub async fn take_oidc_flow(
        &self,
        state_hash: &str,
        browser_hash: &str,
        not_before: Timestamp,
    ) -> Result<Option<OidcFlow>> {
        let c = "finishing an OIDC sign-in";
        let row = sqlx::query(
            "DELETE FROM oidc_flows WHERE state_hash = $1 \
             RETURNING browser_hash, provider, nonce, pkce_verifier, link_person_id, created_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .context(c)?;
        let Some(r) = row else { return Ok(None) };
        let bound: String = r.try_get("browser_hash").context(c)?;
        let flow = OidcFlow {
            provider: r.try_get("provider").context(c)?,
            nonce: r.try_get("nonce").context(c)?,
            pkce_verifier: r.try_get("pkce_verifier").context(c)?,
            link_person: r.try_get("link_person_id").context(c)?,
            created_at: r.try_get("created_at").context(c)?,
        };
        // Both are hashes of random values: comparing them leaks nothing.
        let same_browser = bound == browser_hash;
        Ok((same_browser && flow.created_at >= not_before).then_some(flow))
    }

    /// Removes sign-ins that were started and never finished.
    pub async fn purge_oidc_flows(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM oidc_flows WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .context("purging OIDC sign-ins")?;
        Ok(done.rows_affected())
    }

    pub async fn add_passkey(
        &self,
        person: Id,
        name: &str,
        credential_id: &str,
        credential: &str,
        now: Timestamp,
    ) -> Result<Id> {
        let row = sqlx::query(
            "INSERT INTO passkeys (person_id, name, credential_id, credential, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(person)
        .bind(name)
        .bind(credential_id)
        .bind(credential)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DomainError::invalid("passkey", "security.passkey_known").into()
            }
            _ => crate::StorageError::Database {
                context: "storing a passkey",
                source: e,
            },
        })?;
        row.try_get("id").context("storing a passkey")
    }

    pub async fn passkeys_of(&self, person: Id) -> Result<Vec<StoredPasskey>> {
        let rows = sqlx::query(
            "SELECT id, name, credential_id, credential, created_at, last_used_at \
             FROM passkeys WHERE person_id = $1 ORDER BY id",
        )
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .context("listing passkeys")?;
        rows.iter().map(passkey).collect()
    }

    pub async fn rename_passkey(&self, person: Id, id: Id, name: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = $3 WHERE person_id = $1 AND id = $2")
            .bind(person)
            .bind(id)
            .bind(name)
            .execute(&self.pool)
            .await
            .context("renaming a passkey")?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes one of a person's passkeys; its name, if it was theirs.
    pub async fn delete_passkey(&self, person: Id, id: Id) -> Result<Option<String>> {
        // Never the last second factor: without one, the password alone
        // would lead to setting up a new one. The person's row is locked
        // first, so two removals at the same moment cannot each see the
        // other's passkey as the one that stays.
        let mut tx = self.begin_write("removing a passkey").await?;
        sqlx::query("UPDATE persons SET id = id WHERE id = $1")
            .bind(person)
            .execute(&mut *tx)
            .await
            .context("removing a passkey")?;
        let row = sqlx::query(
            "DELETE FROM passkeys WHERE person_id = $1 AND id = $2 AND (\
             EXISTS (SELECT 1 FROM persons p WHERE p.id = $1 AND p.totp_secret IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM passkeys k WHERE k.person_id = $1 AND k.id <> $2)) \
             RETURNING name",
        )
        .bind(person)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("removing a passkey")?;
        tx.commit().await.context("removing a passkey")?;
        row.map(|r| r.try_get("name"))
            .transpose()
            .context("removing a passkey")
    }

    /// Records a passkey's use with its new state (the signature counter).
    pub async fn passkey_used(
        &self,
        person: Id,
        credential_id: &str,
        credential: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE passkeys SET credential = $3, last_used_at = $4 \
             WHERE person_id = $1 AND credential_id = $2",
        )
        .bind(person)
        .bind(credential_id)
        .bind(credential)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("recording a passkey's use")?;
        Ok(())
    }

    /// Keeps the state of a WebAuthn ceremony of a session, replacing one
    /// of the same purpose begun before.
    pub async fn put_ceremony(
        &self,
        session_hash: &str,
        purpose: &str,
        state: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (session_hash, purpose, state, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (session_hash, purpose) \
             DO UPDATE SET state = $3, created_at = $4",
        )
        .bind(session_hash)
        .bind(purpose)
        .bind(state)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("starting a passkey ceremony")?;
        Ok(())
    }

    /// Takes a ceremony's state once, if it began at or after `not_before`.
    pub async fn take_ceremony(
        &self,
        session_hash: &str,
        purpose: &str,
        not_before: Timestamp,
    ) -> Result<Option<String>> {
        let c = "finishing a passkey ceremony";
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE session_hash = $1 AND purpose = $2 \
             RETURNING state, created_at",
        )
        .bind(session_hash)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await
        .context(c)?;
        let Some(r) = row else { return Ok(None) };
        let at: i64 = r.try_get("created_at").context(c)?;
        let state: String = r.try_get("state").context(c)?;
        Ok((at >= not_before).then_some(state))
    }

    /// Removes ceremonies begun before `before`.
    pub async fn purge_ceremonies(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM webauthn_ceremonies WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .context("purging passkey ceremonies")?;
        Ok(done.rows_affected())
    }

    /// Replaces a person's recovery codes with new ones.
    pub async fn replace_recovery_codes(&self, person: Id, hashes: &[String]) -> Result<()> {
        let c = "replacing recovery codes";
        let mut tx = self.pool.begin().await.context(c)?;
        sqlx::query("DELETE FROM recovery_codes WHERE person_id = $1")
            .bind(person)
            .execute(&mut *tx)
            .await
            .context(c)?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (person_id, code_hash) VALUES ($1, $2)")
                .bind(person)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .context(c)?;
        }
        tx.commit().await.context(c)?;
        Ok(())
    }

    /// The audit log newest first, `limit` lines older than the line
    /// `before`, of one person or of all.
    pub async fn audit_page(
        &self,
        person: Option<Id>,
        before: Option<Id>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let c = "reading the audit log";
        let before = before.unwrap_or(i64::MAX);
        // One query text per case, so each has a plan on its own index.
        let rows = match person {
            Some(person) => {
                sqlx::query(
                    "SELECT a.id, a.at, a.person_id, a.event, a.detail, p.name, p.email \
                     FROM audit_log a LEFT JOIN persons p ON p.id = a.person_id \
                     WHERE a.person_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3",
                )
                .bind(person)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT a.id, a.at, a.person_id, a.event, a.detail, p.name, p.email \
                     FROM audit_log a LEFT JOIN persons p ON p.id = a.person_id \
                     WHERE a.id < $1 ORDER BY a.id DESC LIMIT $2",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .context(c)?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id").context(c)?,
                    at: r.try_get("at").context(c)?,
                    person: r.try_get("person_id").context(c)?,
                    person_name: r.try_get("name").context(c)?,
                    person_email: r.try_get("email").context(c)?,
                    event: r.try_get("event").context(c)?,
                    detail: r.try_get("detail").context(c)?,
                })
            })
            .collect()
    }
}
