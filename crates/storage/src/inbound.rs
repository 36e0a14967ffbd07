//! Incoming mail: each message stored once, with what became of it,
//! written in the same transaction as the entry or call it made, so that
//! a crash leaves either all of it or nothing.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ticketwerk_domain::mail::{HoldReason, MailFate};
use ticketwerk_domain::model::{NewAttachment, NewTicket, Person};
use ticketwerk_domain::ticket::{check_transition, status_after_entry};
use ticketwerk_domain::{Email, EntryKind, Id, TicketNumber, TicketStatus, Timestamp, Viewer};

use crate::persons::{PERSON_COLUMNS, person};
use crate::tickets::{
    Page, TICKET_SELECT, decode_cursor, encode_cursor, insert_attachments, insert_entry,
    insert_ticket, record_status_change, ticket,
};
use crate::{Context, Result, StorageError, Store, code, is_unique_violation};

/// A received message as it is recorded, whatever becomes of it.
#[derive(Clone, Debug)]
pub struct NewInboundMail {
    /// SHA-256 of the raw bytes, hex.
    pub content_key: String,
    /// SHA-256 of the Message-ID, hex, when the mail has one.
    pub message_key: Option<String>,
    pub message_id: Option<String>,
    /// The From address as written, on one line; empty when there is none.
    pub sender: String,
    pub sender_name: String,
    pub subject: String,
    /// From the Date header, when it is valid.
    pub sent_at: Option<Timestamp>,
    pub size: i64,
    /// Where the raw bytes are in the file store.
    pub raw_key: String,
    /// Why a machine sent it (bounce, auto_reply, bulk, own_address).
    pub automatic: Option<String>,
}

/// What a mail is to become. The ingest decides; storage writes it.
#[derive(Clone, Debug)]
pub enum MailOutcome {
    /// An entry on an existing ticket: a `Report` (visible in the portal)
    /// or a `DeskMail` (never shown to a customer). Attachments need an
    /// author, who is recorded as having sent them. On a ticket that is
    /// closed by the time the entry is written, the mail is held instead
    /// ([`HoldReason::TicketClosed`]): the desk decides whether it reopens.
    Entry {
        ticket: Id,
        kind: EntryKind,
        author: Option<Id>,
        body: String,
        attachments: Vec<NewAttachment>,
    },
    /// A new call, with the mail's attachments on the ticket.
    NewCall {
        ticket: NewTicket,
        attachments: Vec<NewAttachment>,
        year: i32,
    },
    /// Held for the desk, with the reason and what else is known.
    Held {
        reason: HoldReason,
        detail: String,
        ticket: Option<Id>,
        person: Option<Id>,
    },
}

/// What recording a mail did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    Stored {
        id: Id,
        fate: MailFate,
        reason: Option<HoldReason>,
        ticket: Option<TicketNumber>,
    },
    /// The same content or Message-ID was stored before: nothing changed.
    Duplicate,
}

/// A stored incoming mail, as the desk sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InboundMail {
    pub id: Id,
    pub message_id: Option<String>,
    pub sender: String,
    pub sender_name: String,
    pub subject: String,
    pub sent_at: Option<Timestamp>,
    pub received_at: Timestamp,
    pub size: i64,
    #[serde(skip)]
    pub raw_key: String,
    pub automatic: Option<String>,
    pub fate: MailFate,
    pub reason: Option<HoldReason>,
    pub detail: String,
    pub ticket_id: Option<Id>,
    pub ticket_number: Option<TicketNumber>,
    pub entry_id: Option<Id>,
    pub person_id: Option<Id>,
}

const MAIL_SELECT: &str = "SELECT m.id, m.message_id, m.sender, m.sender_name, m.subject, \
    m.sent_at, m.received_at, m.size, m.raw_key, m.automatic, m.fate, m.reason, m.detail, \
    m.ticket_id, t.number AS ticket_number, m.entry_id, m.person_id \
    FROM inbound_mails m LEFT JOIN tickets t ON t.id = m.ticket_id";

fn inbound_mail(r: &AnyRow) -> Result<InboundMail> {
    let c = "reading an incoming mail";
    let reason: Option<String> = r.try_get("reason").context(c)?;
    let number: Option<String> = r.try_get("ticket_number").context(c)?;
    Ok(InboundMail {
        id: r.try_get("id").context(c)?,
        message_id: r.try_get("message_id").context(c)?,
        sender: r.try_get("sender").context(c)?,
        sender_name: r.try_get("sender_name").context(c)?,
        subject: r.try_get("subject").context(c)?,
        sent_at: r.try_get("sent_at").context(c)?,
        received_at: r.try_get("received_at").context(c)?,
        size: r.try_get("size").context(c)?,
        raw_key: r.try_get("raw_key").context(c)?,
        automatic: r.try_get("automatic").context(c)?,
        fate: code(r, "fate")?,
        reason: reason
            .map(|raw| raw.parse().map_err(|_| StorageError::Corrupt(raw)))
            .transpose()?,
        detail: r.try_get("detail").context(c)?,
        ticket_id: r.try_get("ticket_id").context(c)?,
        ticket_number: number
            .map(|raw| raw.parse().map_err(|_| StorageError::Corrupt(raw)))
            .transpose()?,
        entry_id: r.try_get("entry_id").context(c)?,
        person_id: r.try_get("person_id").context(c)?,
    })
}

impl Store {
    /// Whether a mail with this content, or this Message-ID, is stored
    /// already. A cheap look before the raw bytes are written anywhere;
    /// the unique indexes decide in the end.
    pub async fn inbound_known(
        &self,
        content_key: &str,
        message_key: Option<&str>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM inbound_mails WHERE content_key = $1 OR message_key = $2",
        )
        .bind(content_key)
        .bind(message_key)
        .fetch_optional(&self.pool)
        .await
        .context("looking up an incoming mail")?;
        Ok(row.is_some())
    }

    /// Whether a mail opened this ticket (its type, impact and urgency are
    /// then the form's defaults, not what the customer chose).
    pub async fn opened_by_mail(&self, ticket: Id) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM inbound_mails WHERE ticket_id = $1 AND fate = 'new_call' LIMIT 1",
        )
        .bind(ticket)
        .fetch_optional(&self.pool)
        .await
        .context("looking up how a ticket was opened")?;
        Ok(row.is_some())
    }

    /// Records a received mail and what it became, in one transaction.
    /// A mail whose content or Message-ID is known is a duplicate and
    /// changes nothing, even when two deliveries race.
    pub async fn record_inbound(
        &self,
        mail: &NewInboundMail,
        outcome: &MailOutcome,
        now: Timestamp,
    ) -> Result<Recorded> {
        let c = "recording an incoming mail";
        let mut tx = self.begin_write(c).await?;
        let inserted = sqlx::query(
            "INSERT INTO inbound_mails (content_key, message_key, message_id, sender, \
             sender_name, subject, sent_at, received_at, size, raw_key, automatic, fate) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'held') RETURNING id",
        )
        .bind(&mail.content_key)
        .bind(mail.message_key.as_deref())
        .bind(mail.message_id.as_deref())
        .bind(&mail.sender)
        .bind(&mail.sender_name)
        .bind(&mail.subject)
        .bind(mail.sent_at)
        .bind(now)
        .bind(mail.size)
        .bind(&mail.raw_key)
        .bind(mail.automatic.as_deref())
        .fetch_one(&mut *tx)
        .await;
        let id: Id = match inserted {
            Ok(row) => row.try_get("id").context(c)?,
            Err(e) if is_unique_violation(&e) => return Ok(Recorded::Duplicate),
            Err(e) => return Err(e).context(c),
        };
        let recorded = apply(&mut tx, id, outcome, now).await?;
        tx.commit().await.context(c)?;
        Ok(recorded)
    }

    /// Gives a held mail a new outcome (the desk retried it, or accepted
    /// it as a call), in one transaction, with its headers as read now (a
    /// mail that could not be read before may be readable after an
    /// upgrade). `None` when the mail is not held (any more): two clicks
    /// on "accept" open one call.
    pub async fn resolve_held(
        &self,
        id: Id,
        mail: &NewInboundMail,
        outcome: &MailOutcome,
        by: Option<Id>,
        now: Timestamp,
    ) -> Result<Option<Recorded>> {
        let c = "resolving a held mail";
        let mut tx = self.begin_write(c).await?;
        // Claims the row: a second resolver waits here and then finds it
        // no longer held.
        let claimed = sqlx::query(
            "UPDATE inbound_mails SET resolved_by = $2, resolved_at = $3, message_id = $4, \
             sender = $5, sender_name = $6, subject = $7, sent_at = $8, automatic = $9 \
             WHERE id = $1 AND fate = 'held'",
        )
        .bind(id)
        .bind(by)
        .bind(now)
        .bind(mail.message_id.as_deref())
        .bind(&mail.sender)
        .bind(&mail.sender_name)
        .bind(&mail.subject)
        .bind(mail.sent_at)
        .bind(mail.automatic.as_deref())
        .execute(&mut *tx)
        .await
        .context(c)?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let recorded = apply(&mut tx, id, outcome, now).await?;
        tx.commit().await.context(c)?;
        Ok(Some(recorded))
    }

    /// Discards a held mail; the raw message stays downloadable. False
    /// when it is not held (any more).
    pub async fn discard_held(&self, id: Id, by: Id, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbound_mails SET fate = 'discarded', resolved_by = $2, resolved_at = $3 \
             WHERE id = $1 AND fate = 'held'",
        )
        .bind(id)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("discarding a held mail")?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn inbound_mail(&self, id: Id) -> Result<Option<InboundMail>> {
        sqlx::query(&format!("{MAIL_SELECT} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an incoming mail")?
            .as_ref()
            .map(inbound_mail)
            .transpose()
    }

    /// One page of the mail held for the desk, newest first.
    pub async fn held_mails(&self, after: Option<&str>, limit: i64) -> Result<Page<InboundMail>> {
        let cursor = after
            .and_then(decode_cursor)
            .and_then(|(id, at)| Some((id, at.parse::<i64>().ok()?)));
        let (at, id) = cursor.map_or((i64::MAX, i64::MAX), |(id, at)| (at, id));
        let rows = sqlx::query(&format!(
            "{MAIL_SELECT} WHERE m.fate = 'held' AND (m.received_at < $1 \
             OR (m.received_at = $2 AND m.id < $3)) \
             ORDER BY m.received_at DESC, m.id DESC LIMIT $4"
        ))
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .context("listing held mail")?;
        let mut items = rows.iter().map(inbound_mail).collect::<Result<Vec<_>>>()?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|m| encode_cursor(&m.received_at.to_string(), m.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The mails recorded on a ticket (entries and held ones), oldest
    /// first: the desk's timeline shows their senders.
    pub async fn mails_of_ticket(&self, ticket: Id) -> Result<Vec<InboundMail>> {
        let rows = sqlx::query(&format!(
            "{MAIL_SELECT} WHERE m.ticket_id = $1 ORDER BY m.entry_id, m.id"
        ))
        .bind(ticket)
        .fetch_all(&self.pool)
        .await
        .context("listing the mails of a ticket")?;
        rows.iter().map(inbound_mail).collect()
    }

    /// The active person with this address and their authority at `now`.
    pub async fn viewer_by_email(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<(Viewer, Person)>> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM persons WHERE email = $1 AND active = 1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("finding a person by email")?;
        let Some(found) = row.as_ref().map(person).transpose()? else {
            return Ok(None);
        };
        Ok(self
            .viewer_and_person(found.id, now)
            .await?
            .map(|(viewer, p, _)| (viewer, p)))
    }
}

/// Writes what the mail became and notes it on the mail's row.
async fn apply(
    tx: &mut Transaction<'_, Any>,
    mail: Id,
    outcome: &MailOutcome,
    now: Timestamp,
) -> Result<Recorded> {
    match outcome {
        MailOutcome::Entry {
            ticket,
            kind,
            author,
            body,
            attachments,
        } => add_mail_entry(tx, mail, *ticket, *kind, *author, body, attachments, now).await,
        MailOutcome::NewCall {
            ticket,
            attachments,
            year,
        } => {
            let (id, number) = insert_ticket(tx, ticket, attachments, *year, now).await?;
            let fate = Fate {
                fate: MailFate::NewCall,
                ticket: Some(id),
                person: Some(ticket.reported_for),
                ..Fate::default()
            };
            note_fate(tx, mail, &fate).await?;
            Ok(stored(mail, &fate, Some(number)))
        }
        MailOutcome::Held {
            reason,
            detail,
            ticket,
            person,
        } => {
            let fate = Fate {
                fate: MailFate::Held,
                reason: Some(*reason),
                detail: detail.clone(),
                ticket: *ticket,
                person: *person,
                ..Fate::default()
            };
            note_fate(tx, mail, &fate).await?;
            Ok(stored(mail, &fate, None))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn add_mail_entry(
    tx: &mut Transaction<'_, Any>,
    mail: Id,
    ticket_id: Id,
    kind: EntryKind,
    author: Option<Id>,
    body: &str,
    attachments: &[NewAttachment],
    now: Timestamp,
) -> Result<Recorded> {
    if !matches!(kind, EntryKind::Report | EntryKind::DeskMail)
        || (kind == EntryKind::Report && author.is_none())
    {
        return Err(StorageError::Corrupt(format!(
            "a mail cannot become {kind}"
        )));
    }
    let c = "adding a mail to a ticket";
    // Read inside the transaction that holds the write lock, so the status
    // moved from is the status as it is now.
    let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.id = $1"))
        .bind(ticket_id)
        .fetch_optional(&mut **tx)
        .await
        .context(c)?
        .ok_or_else(|| StorageError::Corrupt(format!("no ticket {ticket_id}")))?;
    let t = ticket(&row)?;
    if t.status == TicketStatus::Closed {
        let fate = Fate {
            fate: MailFate::Held,
            reason: Some(HoldReason::TicketClosed),
            ticket: Some(t.id),
            person: author,
            ..Fate::default()
        };
        note_fate(tx, mail, &fate).await?;
        return Ok(stored(mail, &fate, Some(t.number)));
    }
    let next = status_after_entry(kind, t.status);
    if let Some(next) = next {
        check_transition(t.kind, t.status, next)?;
    }
    let status = next.unwrap_or(t.status);
    // Mail kept for the desk leaves no trace a customer could see, not
    // even the time of the last change.
    let updated_at = if kind.customer_visible() {
        now
    } else {
        t.updated_at
    };
    sqlx::query("UPDATE tickets SET updated_at = $2, status = $3, is_open = $4 WHERE id = $1")
        .bind(t.id)
        .bind(updated_at)
        .bind(status.code())
        .bind(i64::from(status.is_open()))
        .execute(&mut **tx)
        .await
        .context(c)?;
    let entry = insert_entry(tx, t.id, kind, author, body, now).await?;
    if let (Some(next), Some(author)) = (next, author) {
        record_status_change(tx, &t, next, author, now).await?;
    }
    if !attachments.is_empty() {
        let uploader = author
            .ok_or_else(|| StorageError::Corrupt("attachments of a mail need its sender".into()))?;
        insert_attachments(tx, t.id, Some(entry), uploader, attachments, now).await?;
    }
    let fate = Fate {
        fate: MailFate::Entry,
        ticket: Some(t.id),
        entry: Some(entry),
        person: author,
        ..Fate::default()
    };
    note_fate(tx, mail, &fate).await?;
    Ok(stored(mail, &fate, Some(t.number)))
}

struct Fate {
    fate: MailFate,
    reason: Option<HoldReason>,
    detail: String,
    ticket: Option<Id>,
    entry: Option<Id>,
    person: Option<Id>,
}

impl Default for Fate {
    fn default() -> Self {
        Self {
            fate: MailFate::Held,
            reason: None,
            detail: String::new(),
            ticket: None,
            entry: None,
            person: None,
        }
    }
}

fn stored(id: Id, fate: &Fate, ticket: Option<TicketNumber>) -> Recorded {
    Recorded::Stored {
        id,
        fate: fate.fate,
        reason: fate.reason,
        ticket,
    }
}

async fn note_fate(tx: &mut Transaction<'_, Any>, mail: Id, fate: &Fate) -> Result<()> {
    sqlx::query(
        "UPDATE inbound_mails SET fate = $2, reason = $3, detail = $4, ticket_id = $5, \
         entry_id = $6, person_id = $7 WHERE id = $1",
    )
    .bind(mail)
    .bind(fate.fate.code())
    .bind(fate.reason.map(|r| r.code()))
    .bind(&fate.detail)
    .bind(fate.ticket)
    .bind(fate.entry)
    .bind(fate.person)
    .execute(&mut **tx)
    .await
    .context("recording what became of a mail")?;
    Ok(())
}
