//! The outbox: notifications written with their cause, sent by a worker.
//!
//! [`enqueue`] runs inside the transaction of the change that causes the
//! mail (a new ticket, the desk's question, a solution, a status set by
//! hand), so a committed change always has its mail and a rolled-back one
//! never does. The worker claims one due row at a time: claiming moves
//! `next_attempt_at` to the end of a lease, so a worker that dies while
//! sending leaves the row to be claimed again once the lease is over. A
//! mail is therefore sent at least once; it is sent twice only when a
//! worker dies between the SMTP server's acceptance and the update that
//! records it, and then with the same bytes and Message-ID, which mail
//! programs show once.

use rand::RngCore;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ticketwerk_domain::masterdata::Language;
use ticketwerk_domain::notify::{Event, Party, Template, recipients};
use ticketwerk_domain::{DomainError, Id, Timestamp};

use crate::{Context, Result, StorageError, Store, code};

/// Where a mail is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailState {
    Queued,
    Sending,
    Sent,
    Failed,
    Suppressed,
}

impl MailState {
    pub fn code(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sending,
            Self::Sent,
            Self::Failed,
            Self::Suppressed,
        ]
        .into_iter()
        .find(|s| s.code() == raw)
    }
}

/// Why a mail was not sent, as stable codes the desk's page translates.
pub mod reason {
    /// The person muted this template.
    pub const MUTED: &str = "muted";
    /// The person can no longer sign in; their address may be stale.
    pub const INACTIVE: &str = "inactive";
    /// The recipient is our own address: a loop in the making.
    pub const OWN_ADDRESS: &str = "own_address";
    /// Too many automatic mails to this recipient within the hour.
    pub const HOURLY_CAP: &str = "hourly_cap";
    /// Overtaken before it could be sent (SMTP was down or not set up):
    /// the question was answered meanwhile, or a later status mail tells
    /// the news.
    pub const OUTDATED: &str = "outdated";
}

/// One mail of the outbox.
#[derive(Clone, Debug)]
pub struct OutboxMail {
    pub id: Id,
    pub ticket_id: Id,
    /// The desk's question or the solution that the mail carries.
    pub entry_id: Option<Id>,
    pub template: Template,
    pub recipient_id: Id,
    pub recipient_email: String,
    pub language: Language,
    pub state: MailState,
    pub reason: String,
    /// Attempts so far, the one under way included.
    pub attempts: i64,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// The message as first rendered, for retries.
    pub raw: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

const MAIL_COLUMNS: &str = "id, ticket_id, entry_id, template, recipient_id, recipient_email, \
    language, state, reason, attempts, subject, message_id, raw, created_at, sent_at";

fn mail(r: &AnyRow) -> Result<OutboxMail> {
    let c = "reading a mail of the outbox";
    let template: String = r.try_get("template").context(c)?;
    let state: String = r.try_get("state").context(c)?;
    Ok(OutboxMail {
        id: r.try_get("id").context(c)?,
        ticket_id: r.try_get("ticket_id").context(c)?,
        entry_id: r.try_get("entry_id").context(c)?,
        template: Template::from_name(&template)
            .ok_or_else(|| StorageError::Corrupt(format!("template = {template:?}")))?,
        recipient_id: r.try_get("recipient_id").context(c)?,
        recipient_email: r.try_get("recipient_email").context(c)?,
        language: code(r, "language")?,
        state: MailState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("state = {state:?}")))?,
        reason: r.try_get("reason").context(c)?,
        attempts: r.try_get("attempts").context(c)?,
        subject: r.try_get("subject").context(c)?,
        message_id: r.try_get("message_id").context(c)?,
        raw: r.try_get("raw").context(c)?,
        created_at: r.try_get("created_at").context(c)?,
        sent_at: r.try_get("sent_at").context(c)?,
    })
}

/// Writes the mails `event` causes on a ticket, inside the caller's
/// transaction. Mails a person muted are written as suppressed, so the
/// desk sees that nothing was sent and why.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    ticket: Id,
    reported_by: Id,
    reported_for: Id,
    event: Event,
    entry: Option<Id>,
    now: Timestamp,
) -> Result<()> {
    let c = "writing a notification";
    let rows = sqlx::query(
        "SELECT p.id, p.email, p.language, p.is_agent, p.active, \
         (SELECT COUNT(*) FROM muted_templates m WHERE m.person_id = p.id) AS muted \
         FROM persons p WHERE p.id IN ($1, $2)",
    )
    .bind(reported_by)
    .bind(reported_for)
    .fetch_all(&mut **tx)
    .await
    .context(c)?;
    let party = |id: Id| -> Result<Party> {
        let row = rows
            .iter()
            .find(|r| r.try_get::<i64, _>("id").ok() == Some(id))
            .ok_or_else(|| StorageError::Corrupt(format!("ticket party {id} missing")))?;
        Ok(Party {
            person: id,
            agent: row.try_get::<i64, _>("is_agent").context(c)? == 1,
        })
    };
    let mails = recipients(event, party(reported_by)?, party(reported_for)?);
    for (template, person) in mails {
        let Some(row) = rows
            .iter()
            .find(|r| r.try_get::<i64, _>("id").ok() == Some(person))
        else {
            continue;
        };
        let email: String = row.try_get("email").context(c)?;
        let language: String = row.try_get("language").context(c)?;
        let active = row.try_get::<i64, _>("active").context(c)? == 1;
        let any_muted = row.try_get::<i64, _>("muted").context(c)? > 0;
        let muted = template.mutable() && any_muted && is_muted(tx, person, template).await?;
        let (state, why) = if !active {
            (MailState::Suppressed, reason::INACTIVE)
        } else if muted {
            (MailState::Suppressed, reason::MUTED)
        } else {
            (MailState::Queued, "")
        };
        sqlx::query(
            "INSERT INTO outbox (ticket_id, entry_id, template, recipient_id, recipient_email, \
             language, state, reason, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(ticket)
        .bind(entry)
        .bind(template.name())
        .bind(person)
        .bind(email)
        .bind(language)
        .bind(state.code())
        .bind(why)
        .bind(now)
        .execute(&mut **tx)
        .await
        .context(c)?;
    }
    Ok(())
}

async fn is_muted(tx: &mut Transaction<'_, Any>, person: Id, template: Template) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 AS one FROM muted_templates WHERE person_id = $1 AND template = $2")
            .bind(person)
            .bind(template.name())
            .fetch_optional(&mut **tx)
            .await
            .context("reading muted templates")?
            .is_some(),
    )
}

impl Store {
    /// Claims the next due mail for `lease_secs`: a queued one whose time
    /// has come, or one whose sender's lease ran out. One statement, so
    /// two workers never claim the same mail.
    pub async fn claim_mail(&self, now: Timestamp, lease_secs: i64) -> Result<Option<OutboxMail>> {
        sqlx::query(&format!(
            "UPDATE outbox SET state = 'sending', next_attempt_at = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox WHERE state IN ('queued', 'sending') \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1) \
             AND state IN ('queued', 'sending') AND next_attempt_at <= $1 \
             RETURNING {MAIL_COLUMNS}"
        ))
        .bind(now)
        .bind(now + lease_secs)
        .fetch_optional(&self.pool)
        .await
        .context("claiming a mail")?
        .as_ref()
        .map(mail)
        .transpose()
    }

    /// Keeps the message as first rendered, so retries send the same bytes.
    pub async fn save_rendered_mail(
        &self,
        id: Id,
        subject: &str,
        message_id: &str,
        raw: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE outbox SET subject = $2, message_id = $3, raw = $4 WHERE id = $1")
            .bind(id)
            .bind(subject)
            .bind(message_id)
            .bind(raw)
            .execute(&self.pool)
            .await
            .context("keeping a rendered mail")?;
        Ok(())
    }

    pub async fn mark_mail_sent(&self, id: Id, now: Timestamp) -> Result<()> {
        self.finish_mail(id, MailState::Sent, "", Some(now)).await
    }

    /// Gives up on a mail, with the reason for the desk.
    pub async fn mark_mail_failed(&self, id: Id, why: &str) -> Result<()> {
        self.finish_mail(id, MailState::Failed, why, None).await
    }

    /// Decides not to send a mail (loop guard, hourly cap).
    pub async fn mark_mail_suppressed(&self, id: Id, why: &str) -> Result<()> {
        self.finish_mail(id, MailState::Suppressed, why, None).await
    }

    async fn finish_mail(
        &self,
        id: Id,
        state: MailState,
        why: &str,
        sent_at: Option<Timestamp>,
    ) -> Result<()> {
        sqlx::query("UPDATE outbox SET state = $2, reason = $3, sent_at = $4 WHERE id = $1")
            .bind(id)
            .bind(state.code())
            .bind(why)
            .bind(sent_at)
            .execute(&self.pool)
            .await
            .context("recording what became of a mail")?;
        Ok(())
    }

    /// Puts a mail back in the queue until `at`, with the last error.
    pub async fn retry_mail_at(&self, id: Id, why: &str, at: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'queued', reason = $2, next_attempt_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(why)
        .bind(at)
        .execute(&self.pool)
        .await
        .context("scheduling a mail again")?;
        Ok(())
    }

    /// Whether a later mail of the same template about the same ticket
    /// went to the same person's outbox after `mail`.
    pub async fn later_mail_exists(&self, mail: &OutboxMail) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM outbox WHERE ticket_id = $1 AND id > $2 \
             AND recipient_id = $3 AND template = $4 LIMIT 1",
        )
        .bind(mail.ticket_id)
        .bind(mail.id)
        .bind(mail.recipient_id)
        .bind(mail.template.name())
        .fetch_optional(&self.pool)
        .await
        .context("looking for a later mail")?;
        Ok(row.is_some())
    }

    /// How many mails went to this address since `since`, for the cap.
    pub async fn mails_sent_to_since(&self, email: &str, since: Timestamp) -> Result<i64> {
        sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox WHERE recipient_email = $1 AND state = 'sent' \
             AND sent_at >= $2",
        )
        .bind(email)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .context("counting recent mails")?
        .try_get("n")
        .context("counting recent mails")
    }

    /// The Message-IDs this person was sent about this ticket before `mail`,
    /// oldest first, at most ten: the thread a new mail continues.
    pub async fn thread_of_mail(&self, mail: &OutboxMail) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT message_id FROM outbox WHERE ticket_id = $1 AND recipient_id = $2 \
             AND id < $3 AND message_id IS NOT NULL ORDER BY id LIMIT 10",
        )
        .bind(mail.ticket_id)
        .bind(mail.recipient_id)
        .bind(mail.id)
        .fetch_all(&self.pool)
        .await
        .context("reading a mail thread")?;
        rows.iter()
            .map(|r| r.try_get("message_id").context("reading a mail thread"))
            .collect()
    }

    /// Every mail about a ticket, newest first, for the desk.
    pub async fn outgoing_mails_of_ticket(&self, ticket: Id) -> Result<Vec<OutboxMail>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAIL_COLUMNS} FROM outbox WHERE ticket_id = $1 ORDER BY id DESC LIMIT 200"
        ))
        .bind(ticket)
        .fetch_all(&self.pool)
        .await
        .context("listing a ticket's mails")?;
        rows.iter().map(mail).collect()
    }

    /// The templates a person has muted.
    pub async fn muted_templates(&self, person: Id) -> Result<Vec<Template>> {
        let rows = sqlx::query(
            "SELECT template FROM muted_templates WHERE person_id = $1 ORDER BY template",
        )
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .context("reading muted templates")?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("template").ok())
            .filter_map(|t| Template::from_name(&t))
            .collect())
    }

    /// Replaces the templates a person has muted. The solution mail cannot
    /// be muted: asking for it is refused and nothing changes.
    pub async fn set_muted_templates(&self, person: Id, templates: &[Template]) -> Result<()> {
        if templates.iter().any(|t| !t.mutable()) {
            return Err(DomainError::invalid("muted_templates", "not_mutable").into());
        }
        let mut tx = self.pool.begin().await.context("muting templates")?;
        sqlx::query("DELETE FROM muted_templates WHERE person_id = $1")
            .bind(person)
            .execute(&mut *tx)
            .await
            .context("muting templates")?;
        for template in templates {
            sqlx::query(
                "INSERT INTO muted_templates (person_id, template) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(person)
            .bind(template.name())
            .execute(&mut *tx)
            .await
            .context("muting templates")?;
        }
        tx.commit().await.context("muting templates")?;
        Ok(())
    }

    /// A random key of this installation, made on first use; every
    /// instance on the same database reads the same one.
    pub async fn installation_secret(&self, name: &str) -> Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query(
            "INSERT INTO installation_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(hex)
        .execute(&self.pool)
        .await
        .context("making an installation secret")?;
        let value: String = sqlx::query("SELECT value FROM installation_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .context("reading an installation secret")?
            .try_get("value")
            .context("reading an installation secret")?;
        (0..value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(value.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| StorageError::Corrupt(format!("installation secret {name}")))
    }
}
