//! One incoming message, from raw bytes to an entry on its ticket, a new
//! call, or a message held for the desk. The MTA pipe door and the IMAP
//! poller both come through [`Ingest`], so they share every rule:
//!
//! 1. The same message (same Message-ID, or the same bytes) is stored
//!    once; a second delivery is [`Delivered::Duplicate`] and changes
//!    nothing.
//! 2. The raw bytes are kept, whatever happens next. A message that cannot
//!    be read, or breaks a limit, is held with the reason, never dropped.
//! 3. The ticket: one of our signed Message-IDs in In-Reply-To or
//!    References, else the ticket number in the subject. A subject can be
//!    typed by anyone, so a number there counts only when the sender may
//!    see that ticket (the domain's `Viewer`); otherwise the mail is
//!    treated as one without a number.
//! 4. The sender: the reporter or the person reported for makes a `report`
//!    entry visible in the portal, with the mail's attachments. Anyone
//!    else who reaches a ticket (a colleague, an agent, someone who
//!    replied to our mail) makes a `desk_mail` entry that no customer ever
//!    sees; its attachments stay in the raw mail the desk can download.
//! 5. Without a ticket: a known person of one business partner opens a
//!    new call there. A person of several is held for the desk to choose
//!    the business partner (a call in the wrong one would show the mail
//!    to that partner's authorised persons); anyone else is held.
//! 6. A machine's mail (bounce, auto-reply, list, our own address) never
//!    opens a ticket and never becomes visible to a customer: on a ticket
//!    it is a `desk_mail` entry, without one it is held. Nothing here ever
//!    sends a mail, so no reply can start a loop.
//! 7. When the operator names the receiving MTA's authserv-id, a From
//!    address counts only with that MTA's aligned DMARC, DKIM or SPF pass
//!    (`ticketwerk_mail::authentication`). An unproven sender is nobody's
//!    voice on a ticket: on one it is a `desk_mail` entry, without one it
//!    is held for the desk. Without the setting every From is believed,
//!    which is only as safe as the MTA in front.

use ticketwerk_domain::mail::{HoldReason, SHORT_TEXT_CHARS, TEXT_CHARS, cut};
use ticketwerk_domain::model::{NewAttachment, NewTicket, Ticket};
use ticketwerk_domain::{
    DomainError, Email, EntryKind, Id, Impact, TicketNumber, TicketType, Timestamp, Urgency, Viewer,
};
use ticketwerk_mail::inbound::{self, Automatic, Inbound, Limits, ParseError, content_key};
use ticketwerk_mail::{authentication, matching};
use ticketwerk_storage::{FileStore, MailOutcome, NewInboundMail, Recorded, StorageError, Store};

use crate::{Delivered, DeliveryError, Inbox};

/// What the ingest needs to know of the installation.
#[derive(Clone)]
pub struct Settings {
    /// How much of a message is read; a larger one is held unread.
    pub limits: Limits,
    /// Larger messages are not even stored: the MTA bounces them. Well
    /// above `limits.max_bytes`, so that what breaks the limit is usually
    /// still held for the desk to see.
    pub max_stored_bytes: usize,
    /// The installation's secret that signs our Message-IDs.
    pub message_id_key: Vec<u8>,
    /// The addresses Ticketwerk sends from or receives at: mail from them
    /// is a loop and never answered.
    pub own_addresses: Vec<Email>,
    /// The authserv-id of the MTA whose `Authentication-Results` prove a
    /// From address; `None` believes every From (rule 7).
    pub trusted_authserv_id: Option<String>,
}

impl std::fmt::Debug for Settings {
    /// Without the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("limits", &self.limits)
            .field("max_stored_bytes", &self.max_stored_bytes)
            .field("own_addresses", &self.own_addresses)
            .field("trusted_authserv_id", &self.trusted_authserv_id)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads up to `max_bytes` per message and stores up to twice that.
    pub fn new(max_bytes: usize, message_id_key: Vec<u8>, own_addresses: Vec<Email>) -> Self {
        Self {
            limits: Limits {
                max_bytes,
                ..Limits::default()
            },
            max_stored_bytes: max_bytes.saturating_mul(2),
            message_id_key,
            own_addresses,
            trusted_authserv_id: None,
        }
    }

    /// Believes a From address only with the aligned pass of this MTA.
    pub fn trusting(mut self, authserv_id: Option<String>) -> Self {
        self.trusted_authserv_id = authserv_id.filter(|id| !id.trim().is_empty());
        self
    }

    /// Whether the mail's From address is proven, or need not be.
    fn sender_proven(&self, mail: &Inbound) -> bool {
        let Some(id) = &self.trusted_authserv_id else {
            return true;
        };
        let from = mail.from.as_ref().and_then(|f| f.email.as_ref());
        from.is_some_and(|email| {
            authentication::sender_authenticated(&mail.authentication_results, id, email.as_str())
        })
    }
}

/// Incoming mail into a real database and file store.
#[derive(Clone, Debug)]
pub struct Ingest {
    store: Store,
    files: FileStore,
    settings: Settings,
}

impl Inbox for Ingest {
    async fn deliver(&self, raw: &[u8]) -> Result<Delivered, DeliveryError> {
        self.ingest(raw, now()).await
    }
}

/// What the rules decided before anything is written.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Plan {
    Entry {
        ticket: Id,
        kind: EntryKind,
        author: Option<Id>,
    },
    NewCall {
        person: Id,
        business_partner: Id,
    },
    Held {
        reason: HoldReason,
        detail: String,
        ticket: Option<Id>,
        person: Option<Id>,
    },
}

impl Plan {
    fn held(reason: HoldReason, detail: String) -> Self {
        Plan::Held {
            reason,
            detail,
            ticket: None,
            person: None,
        }
    }
}

/// How the mail found its ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clue {
    /// One of our signed Message-IDs: the mail answers our mail.
    SignedReference,
    /// A number in the subject, which anyone can type.
    Subject,
}

impl Ingest {
    pub fn new(store: Store, files: FileStore, settings: Settings) -> Self {
        Self {
            store,
            files,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stores one raw message (see the module documentation), at `now`.
    pub async fn ingest(&self, raw: &[u8], now: Timestamp) -> Result<Delivered, DeliveryError> {
        if raw.len() > self.settings.max_stored_bytes {
            return Err(DeliveryError::Permanent(format!(
                "the message has {} bytes, more than the {} this desk stores",
                raw.len(),
                self.settings.max_stored_bytes
            )));
        }
        let parsed = self.parse(raw);
        let content_key = content_key(raw);
        let message_key = parsed.as_ref().ok().and_then(message_key);
        let known = self
            .store
            .inbound_known(&content_key, message_key.as_deref())
            .await
            .map_err(temporary)?;
        if known {
            tracing::info!(target: "mail", "incoming mail delivered before; nothing changed");
            return Ok(Delivered::Duplicate);
        }
        let raw_key = self.files.put(raw).await.map_err(temporary)?;
        let mail = headers(raw, &parsed, content_key, message_key, raw_key.clone());
        let result = self.record(&mail, &parsed, now).await;
        match result {
            Ok(Recorded::Stored {
                id,
                fate,
                reason,
                ticket,
            }) => {
                tracing::info!(
                    target: "mail",
                    mail = id,
                    fate = fate.code(),
                    reason = reason.map(|r| r.code()),
                    ticket = ticket.as_ref().map(|t| t.as_str()),
                    size = raw.len(),
                    "incoming mail stored"
                );
                Ok(Delivered::Stored)
            }
            Ok(Recorded::Duplicate) => {
                self.files.delete(&raw_key).await;
                Ok(Delivered::Duplicate)
            }
            Err(e) => {
                self.files.delete(&raw_key).await;
                tracing::warn!(target: "mail", error = %error_chain(&e), "incoming mail not stored");
                Err(temporary(e))
            }
        }
    }

    /// Runs the rules again on a held mail's raw bytes: after an upgrade
    /// the parser may read what it could not, or the sender may have been
    /// added as a person meanwhile. `None` when the mail is not held.
    pub async fn retry(
        &self,
        id: Id,
        by: Option<Id>,
        now: Timestamp,
    ) -> Result<Option<Recorded>, StorageError> {
        let Some((_raw, mail, parsed)) = self.held(id).await? else {
            return Ok(None);
        };
        let plan = self.plan(&parsed, now).await?;
        let (outcome, written) = self.outcome(plan, &parsed, now).await?;
        let done = self.store.resolve_held(id, &mail, &outcome, by, now).await;
        self.clean_up_unless_stored(&done, &written).await;
        done
    }

    /// Opens a new call from a held mail for the person the desk chose, in
    /// their business partner; for a person of several, in the one the desk
    /// chose (`business_partner`, one of the person's). `None` when the
    /// mail is not held; a person who cannot have tickets (unknown,
    /// inactive, an agent, of no business partner) is refused at the field
    /// `person`, a missing or foreign business partner at the field
    /// `business_partner`.
    pub async fn accept_as_call(
        &self,
        id: Id,
        person: &Email,
        business_partner: Option<Id>,
        by: Id,
        now: Timestamp,
    ) -> Result<Option<Recorded>, StorageError> {
        let refused = || StorageError::from(DomainError::invalid("person", "unknown_choice"));
        let (viewer, _) = self
            .store
            .viewer_by_email(person, now)
            .await?
            .ok_or_else(refused)?;
        let business_partner = match (partner_of(&viewer), business_partner) {
            (Partner::None, _) => return Err(refused()),
            (Partner::One(only), None) => only,
            (_, Some(chosen)) if viewer.is_member_of(chosen) => chosen,
            (Partner::Several, None) => {
                return Err(DomainError::invalid("business_partner", "form.required").into());
            }
            (_, Some(_)) => {
                return Err(DomainError::invalid("business_partner", "unknown_choice").into());
            }
        };
        let Some((_raw, mail, parsed)) = self.held(id).await? else {
            return Ok(None);
        };
        // A call needs a text the customer can read; an unreadable mail
        // stays with the desk, which has the original.
        if parsed.is_err() {
            return Err(DomainError::Conflict("mail_unreadable").into());
        }
        let plan = Plan::NewCall {
            person: viewer.person,
            business_partner,
        };
        let (outcome, written) = self.outcome(plan, &parsed, now).await?;
        let done = self
            .store
            .resolve_held(id, &mail, &outcome, Some(by), now)
            .await;
        self.clean_up_unless_stored(&done, &written).await;
        done
    }

    /// Files a held mail on a ticket the desk names, as a `desk_mail`
    /// entry no customer sees (a stranger's reply, a reply to a closed
    /// ticket that was reopened): the desk decides what to pass on. `None`
    /// when the mail is not held; a ticket that does not exist is refused
    /// at the field `ticket`.
    pub async fn attach_to_ticket(
        &self,
        id: Id,
        number: &TicketNumber,
        by: Id,
        now: Timestamp,
    ) -> Result<Option<Recorded>, StorageError> {
        let ticket =
            self.store.ticket_by_number(number).await?.ok_or_else(|| {
                StorageError::from(DomainError::invalid("ticket", "unknown_choice"))
            })?;
        let Some((_raw, mail, parsed)) = self.held(id).await? else {
            return Ok(None);
        };
        let sender = match parsed
            .as_ref()
            .ok()
            .and_then(|m| m.from.as_ref())
            .and_then(|f| f.email.as_ref())
        {
            Some(email) => self.store.viewer_by_email(email, now).await?,
            None => None,
        };
        let plan = Plan::Entry {
            ticket: ticket.id,
            kind: EntryKind::DeskMail,
            author: sender.map(|(v, _)| v.person),
        };
        let (outcome, written) = self.outcome(plan, &parsed, now).await?;
        let done = self
            .store
            .resolve_held(id, &mail, &outcome, Some(by), now)
            .await;
        self.clean_up_unless_stored(&done, &written).await;
        done
    }

    /// The text of a held mail as the desk reads it on its page: `None`
    /// when it is missing, or too large or unreadable to parse.
    pub async fn readable(&self, id: Id) -> Result<Option<Inbound>, StorageError> {
        let Some(stored) = self.store.inbound_mail(id).await? else {
            return Ok(None);
        };
        if stored.size > self.settings.limits.max_bytes as i64 {
            return Ok(None);
        }
        let raw = self.files.get(&stored.raw_key).await?;
        Ok(self.parse(&raw).ok())
    }

    /// A held mail's raw bytes, headers and parse, or `None` when the mail
    /// is missing or not held.
    async fn held(
        &self,
        id: Id,
    ) -> Result<Option<(Vec<u8>, NewInboundMail, Result<Inbound, ParseError>)>, StorageError> {
        let Some(stored) = self.store.inbound_mail(id).await? else {
            return Ok(None);
        };
        if stored.fate != ticketwerk_domain::mail::MailFate::Held {
            return Ok(None);
        }
        let raw = self.files.get(&stored.raw_key).await?;
        let parsed = self.parse(&raw);
        let message_key = parsed.as_ref().ok().and_then(message_key);
        let mail = headers(
            &raw,
            &parsed,
            content_key(&raw),
            message_key,
            stored.raw_key,
        );
        Ok(Some((raw, mail, parsed)))
    }

    fn parse(&self, raw: &[u8]) -> Result<Inbound, ParseError> {
        inbound::parse(raw, &self.settings.limits)
            .map(|m| m.with_own_addresses(&self.settings.own_addresses))
    }

    /// Decides, writes the attachments the outcome needs and records it;
    /// a call that storage refuses (its person left the business partner
    /// a moment ago) is held instead.
    async fn record(
        &self,
        mail: &NewInboundMail,
        parsed: &Result<Inbound, ParseError>,
        now: Timestamp,
    ) -> Result<Recorded, StorageError> {
        let plan = self.plan(parsed, now).await?;
        let person = match &plan {
            Plan::NewCall { person, .. } => Some(*person),
            _ => None,
        };
        let (outcome, written) = self.outcome(plan, parsed, now).await?;
        let done = self.store.record_inbound(mail, &outcome, now).await;
        self.clean_up_unless_stored(&done, &written).await;
        match (done, person) {
            (Err(StorageError::Domain(e)), Some(person)) => {
                let held = MailOutcome::Held {
                    reason: HoldReason::NoBusinessPartner,
                    detail: e.to_string(),
                    ticket: None,
                    person: Some(person),
                };
                self.store.record_inbound(mail, &held, now).await
            }
            (done, _) => done,
        }
    }

    /// Removes the attachment files written for an outcome that was not
    /// stored (a duplicate, a refusal, an error).
    async fn clean_up_unless_stored<T>(
        &self,
        done: &Result<T, StorageError>,
        written: &[NewAttachment],
    ) where
        T: StoredCheck,
    {
        let stored = done.as_ref().is_ok_and(StoredCheck::is_stored);
        if !stored {
            for file in written {
                self.files.delete(&file.storage_key).await;
            }
        }
    }

    /// Looks up the sender and the ticket, then applies [`rules`].
    async fn plan(
        &self,
        parsed: &Result<Inbound, ParseError>,
        now: Timestamp,
    ) -> Result<Plan, StorageError> {
        let mail = match parsed {
            Ok(mail) => mail,
            Err(e) => {
                let reason = match e {
                    ParseError::NotAMessage => HoldReason::Unparseable,
                    _ => HoldReason::TooLarge,
                };
                return Ok(Plan::held(reason, e.to_string()));
            }
        };
        let sender = match mail.from.as_ref().and_then(|f| f.email.as_ref()) {
            Some(email) => self.store.viewer_by_email(email, now).await?,
            None => None,
        };
        let mut ticket = None;
        let signed = matching::ticket_in_references(mail, &self.settings.message_id_key);
        if let Some(number) = signed {
            ticket = self
                .store
                .ticket_by_number(&number)
                .await?
                .map(|t| (t, Clue::SignedReference));
        }
        if ticket.is_none()
            && let Some(number) = matching::ticket_number_in_subject(&mail.subject)
        {
            ticket = self
                .store
                .ticket_by_number(&number)
                .await?
                .map(|t| (t, Clue::Subject));
        }
        let found = ticket.as_ref().map(|(t, clue)| (t, *clue));
        let proven = self.settings.sender_proven(mail);
        Ok(rules(mail, sender.as_ref().map(|(v, _)| v), proven, found))
    }

    /// Turns a plan into what storage writes: the text, the short text,
    /// and the attachments written to the file store (returned as well,
    /// so the caller can remove them if the outcome is not stored).
    async fn outcome(
        &self,
        plan: Plan,
        parsed: &Result<Inbound, ParseError>,
        now: Timestamp,
    ) -> Result<(MailOutcome, Vec<NewAttachment>), StorageError> {
        let mail = parsed.as_ref().ok();
        let text = mail.map(|m| cut(&m.text, TEXT_CHARS)).unwrap_or_default();
        let wants_files = matches!(
            plan,
            Plan::Entry {
                kind: EntryKind::Report,
                ..
            } | Plan::NewCall { .. }
        );
        let attachments = match mail {
            Some(mail) if wants_files => self.write_attachments(mail).await?,
            _ => Vec::new(),
        };
        let outcome = match plan {
            Plan::Entry {
                ticket,
                kind,
                author,
            } => MailOutcome::Entry {
                ticket,
                kind,
                author,
                body: text,
                attachments: attachments.clone(),
            },
            Plan::NewCall {
                person,
                business_partner,
            } => MailOutcome::NewCall {
                ticket: NewTicket {
                    business_partner_id: business_partner,
                    reported_by: person,
                    reported_for: person,
                    reference: String::new(),
                    short_text: short_text(mail.map_or("", |m| m.subject.as_str()), &text),
                    description: text,
                    impact: Impact::Person,
                    urgency: Urgency::CanWork,
                    ticket_type: TicketType::Request,
                    service_id: None,
                    system_id: None,
                },
                attachments: attachments.clone(),
                year: year_of(now),
            },
            Plan::Held {
                reason,
                detail,
                ticket,
                person,
            } => MailOutcome::Held {
                reason,
                detail,
                ticket,
                person,
            },
        };
        Ok((outcome, attachments))
    }

    async fn write_attachments(&self, mail: &Inbound) -> Result<Vec<NewAttachment>, StorageError> {
        let mut written = Vec::with_capacity(mail.attachments.len());
        for a in &mail.attachments {
            match self.files.put(&a.bytes).await {
                Ok(key) => written.push(NewAttachment {
                    file_name: a.file_name.clone(),
                    content_type: a.content_type.clone(),
                    size: a.bytes.len() as i64,
                    storage_key: key,
                }),
                Err(e) => {
                    for file in &written {
                        self.files.delete(&file.storage_key).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(written)
    }
}

/// Whether a storage answer means the outcome was written.
trait StoredCheck {
    fn is_stored(&self) -> bool;
}

impl StoredCheck for Recorded {
    fn is_stored(&self) -> bool {
        matches!(self, Recorded::Stored { .. })
    }
}

impl StoredCheck for Option<Recorded> {
    fn is_stored(&self) -> bool {
        self.as_ref().is_some_and(StoredCheck::is_stored)
    }
}

/// The rules of the module documentation, given what the database knows:
/// the sender as a person (if any) and the ticket the mail points to.
fn rules(
    mail: &Inbound,
    sender: Option<&Viewer>,
    proven: bool,
    ticket: Option<(&Ticket, Clue)>,
) -> Plan {
    let sees = |t: &Ticket| sender.is_some_and(|v| v.may_see_ticket(&t.parties()));
    let ticket = ticket.filter(|(t, clue)| *clue == Clue::SignedReference || sees(t));
    let author = sender.map(|v| v.person);
    if let Some((t, _)) = ticket {
        // An agent's mail is the desk's own business, never a customer's
        // report, even on a ticket the agent opened.
        let party = sees(t)
            && sender.is_some_and(|v| {
                !v.agent && (v.person == t.reported_by || v.person == t.reported_for)
            });
        let kind = if party && proven && mail.automatic.is_none() {
            EntryKind::Report
        } else {
            EntryKind::DeskMail
        };
        return Plan::Entry {
            ticket: t.id,
            kind,
            author,
        };
    }
    if let Some(automatic) = mail.automatic {
        return Plan::Held {
            reason: HoldReason::Automatic,
            detail: automatic_code(automatic).to_string(),
            ticket: None,
            person: author,
        };
    }
    match sender {
        None => Plan::held(HoldReason::UnknownSender, String::new()),
        Some(v) if !proven => Plan::Held {
            reason: HoldReason::UnverifiedSender,
            detail: String::new(),
            ticket: None,
            person: Some(v.person),
        },
        Some(v) => match partner_of(v) {
            Partner::One(business_partner) => Plan::NewCall {
                person: v.person,
                business_partner,
            },
            Partner::Several => Plan::Held {
                reason: HoldReason::SeveralBusinessPartners,
                detail: String::new(),
                ticket: None,
                person: Some(v.person),
            },
            Partner::None => Plan::Held {
                reason: HoldReason::NoBusinessPartner,
                detail: String::new(),
                ticket: None,
                person: Some(v.person),
            },
        },
    }
}

/// Where a call from a person's mail can be opened.
enum Partner {
    /// An agent, or a person of no business partner.
    None,
    One(Id),
    /// The desk chooses.
    Several,
}

fn partner_of(viewer: &Viewer) -> Partner {
    match viewer.memberships.as_slice() {
        _ if viewer.agent => Partner::None,
        [] => Partner::None,
        [only] => Partner::One(only.business_partner),
        _ => Partner::Several,
    }
}

fn automatic_code(automatic: Automatic) -> &'static str {
    match automatic {
        Automatic::Bounce => "bounce",
        Automatic::AutoReply => "auto_reply",
        Automatic::Bulk => "bulk",
        Automatic::OwnAddress => "own_address",
    }
}

/// The short text of a call from a mail: the subject without reply
/// prefixes, else the first line of the text.
fn short_text(subject: &str, text: &str) -> String {
    let subject = matching::strip_reply_prefixes(subject).trim();
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let chosen = if subject.is_empty() {
        line.unwrap_or("E-Mail")
    } else {
        subject
    };
    cut(chosen, SHORT_TEXT_CHARS)
}

fn message_key(mail: &Inbound) -> Option<String> {
    mail.message_id
        .as_deref()
        .map(|id| content_key(id.as_bytes()))
}

/// The row of a received mail, from whatever could be read.
fn headers(
    raw: &[u8],
    parsed: &Result<Inbound, ParseError>,
    content_key: String,
    message_key: Option<String>,
    raw_key: String,
) -> NewInboundMail {
    let mail = parsed.as_ref().ok();
    let from = mail.and_then(|m| m.from.as_ref());
    NewInboundMail {
        content_key,
        message_key,
        message_id: mail.and_then(|m| m.message_id.clone()),
        sender: from.map(|f| f.address.clone()).unwrap_or_default(),
        sender_name: from.and_then(|f| f.name.clone()).unwrap_or_default(),
        subject: mail.map(|m| m.subject.clone()).unwrap_or_default(),
        sent_at: mail.and_then(|m| m.date),
        size: raw.len() as i64,
        raw_key,
        automatic: mail
            .and_then(|m| m.automatic)
            .map(|a| automatic_code(a).to_string()),
    }
}

fn temporary(e: StorageError) -> DeliveryError {
    DeliveryError::Temporary(error_chain(&e))
}

/// An error with its causes, for logs and the MTA's retry note.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn now() -> Timestamp {
    jiff::Timestamp::now().as_second()
}

/// The calendar year (UTC) ticket numbers count in, as the portal does.
fn year_of(ts: Timestamp) -> i32 {
    jiff::Timestamp::from_second(ts)
        .map(|t| i32::from(t.to_zoned(jiff::tz::TimeZone::UTC).year()))
        .unwrap_or(1970)
}
