//! The outbox worker: sends the notifications storage wrote with their
//! cause, over SMTP, and records what became of each.
//!
//! A mail is rendered once, at its first attempt, and kept; every retry
//! sends the same bytes with the same Message-ID. A temporary refusal (4xx,
//! no connection) is tried again after a growing pause, a permanent one
//! (5xx) is recorded as failed with the server's words. Two guards keep a
//! loop from starting: nothing goes to our own addresses, and no recipient
//! gets more than `hourly_cap` mails an hour (the rest are suppressed and
//! the desk sees why).

use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use ticketwerk_domain::masterdata::Language;
use ticketwerk_domain::model::Ticket;
use ticketwerk_domain::notify::Template;
use ticketwerk_domain::{Email, TicketStatus, Timestamp};
use ticketwerk_mail::matching::message_id_for;
use ticketwerk_mail::templates::Context;
use ticketwerk_mail::{Outgoing, Party, Templates, outbound};
use ticketwerk_storage::{OutboxMail, Store, mail_reason};
use tracing::{Instrument, info, info_span, warn};

/// Pauses before the second, third, … attempt; the last one repeats until
/// [`MAX_ATTEMPTS`] is reached (about two days in all).
const BACKOFF_SECS: &[i64] = &[60, 300, 900, 3_600, 3 * 3_600, 6 * 3_600, 12 * 3_600];
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a worker may take to send one mail before another may.
const LEASE_SECS: i64 = 300;
/// How often the worker looks for due mail when it found none.
const IDLE: Duration = Duration::from_secs(1);

/// The status of a ticket as a recipient reads it, in their language. The
/// web layer's catalogue knows the words; the worker only asks.
pub type StatusLabel = Arc<dyn Fn(TicketStatus, Language) -> String + Send + Sync>;

/// What every mail needs to know about the installation.
#[derive(Clone)]
pub struct OutboxSettings {
    pub provider_name: String,
    /// The desk's address: From, and where replies go.
    pub from: Email,
    /// Addresses that are ours; mail to them would come back to us.
    pub own_addresses: Vec<Email>,
    /// The portal as customers reach it, without a trailing slash.
    pub portal_url: String,
    pub hourly_cap: i64,
    /// Signs our Message-IDs, so replies find their ticket unforgeably.
    pub message_id_key: Vec<u8>,
}

/// An SMTP connection from a URL (`smtp://`, `smtp://…?tls=required`,
/// `smtps://`) and an optional password for the user named in it.
pub fn smtp_transport(
    url: &str,
    password: Option<&str>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.timeout(Some(Duration::from_secs(30)));
    if let Some(password) = password {
        let user = url::Url::parse(url)
            .ok()
            .map(|u| u.username().to_string())
            .filter(|u| !u.is_empty());
        if let Some(user) = user {
            let user = percent_decode(&user);
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user,
                    password.to_string(),
                ));
        }
    }
    Ok(builder.build())
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

/// What became of one mail in one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Tried again later, with the reason.
    Retry(String),
    Failed(String),
    Suppressed(&'static str),
}

/// The worker.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    templates: Arc<Templates>,
    settings: Arc<OutboxSettings>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    status_label: StatusLabel,
}

impl Outbox {
    pub fn new(
        store: Store,
        templates: Arc<Templates>,
        settings: OutboxSettings,
        transport: AsyncSmtpTransport<Tokio1Executor>,
        status_label: StatusLabel,
    ) -> Self {
        Self {
            store,
            templates,
            settings: Arc::new(settings),
            transport,
            status_label,
        }
    }

    /// Sends mail until the process stops. A database that does not answer
    /// pauses the worker; nothing is lost, since the mail stays queued.
    pub async fn run(self) {
        loop {
            match self.run_once(crate::now()).await {
                Ok(0) => tokio::time::sleep(IDLE).await,
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "the outbox cannot be read; trying again shortly");
                    tokio::time::sleep(IDLE * 5).await;
                }
            }
        }
    }

    /// Handles every mail due at `now`; returns how many.
    pub async fn run_once(&self, now: Timestamp) -> ticketwerk_storage::Result<usize> {
        let mut handled = 0;
        while let Some(mail) = self.store.claim_mail(now, LEASE_SECS).await? {
            let span = info_span!(
                "mail_out",
                mail = mail.id,
                ticket = mail.ticket_id,
                template = %mail.template,
                attempt = mail.attempts
            );
            let outcome = self.attempt(&mail, now).instrument(span.clone()).await?;
            span.in_scope(|| info!(outcome = ?outcome, "mail handled"));
            handled += 1;
        }
        Ok(handled)
    }

    async fn attempt(
        &self,
        mail: &OutboxMail,
        now: Timestamp,
    ) -> ticketwerk_storage::Result<Outcome> {
        let outcome = self.decide(mail, now).await?;
        match &outcome {
            Outcome::Sent => self.store.mark_mail_sent(mail.id, now).await?,
            Outcome::Retry(why) => {
                let step = usize::try_from(mail.attempts - 1).unwrap_or(0);
                let pause = BACKOFF_SECS[step.min(BACKOFF_SECS.len() - 1)];
                self.store.retry_mail_at(mail.id, why, now + pause).await?
            }
            Outcome::Failed(why) => self.store.mark_mail_failed(mail.id, why).await?,
            Outcome::Suppressed(why) => self.store.mark_mail_suppressed(mail.id, why).await?,
        }
        Ok(outcome)
    }

    async fn decide(
        &self,
        mail: &OutboxMail,
        now: Timestamp,
    ) -> ticketwerk_storage::Result<Outcome> {
        let Ok(to) = Email::parse(&mail.recipient_email) else {
            return Ok(Outcome::Failed("invalid_address".into()));
        };
        let own = std::iter::once(&self.settings.from).chain(&self.settings.own_addresses);
        if own.into_iter().any(|e| e == &to) {
            return Ok(Outcome::Suppressed(mail_reason::OWN_ADDRESS));
        }
        let recent = self
            .store
            .mails_sent_to_since(to.as_str(), now - 3_600)
            .await?;
        if recent >= self.settings.hourly_cap {
            return Ok(Outcome::Suppressed(mail_reason::HOURLY_CAP));
        }
        let raw = match &mail.raw {
            Some(raw) => raw.clone(),
            None => {
                let Some(ticket) = self.store.ticket(mail.ticket_id).await? else {
                    return Ok(Outcome::Failed("ticket_missing".into()));
                };
                if self.outdated(mail, &ticket).await? {
                    return Ok(Outcome::Suppressed(mail_reason::OUTDATED));
                }
                match self.render(mail, &to, &ticket).await? {
                    Ok(raw) => raw,
                    Err(why) => return Ok(Outcome::Failed(why)),
                }
            }
        };
        let envelope = match Envelope::new(
            self.settings.from.as_str().parse().ok(),
            to.as_str().parse().into_iter().collect(),
        ) {
            Ok(envelope) => envelope,
            Err(_) => return Ok(Outcome::Failed("invalid_address".into())),
        };
        Ok(
            match self.transport.send_raw(&envelope, raw.as_bytes()).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Failed(e.to_string()),
                Err(e) if mail.attempts >= MAX_ATTEMPTS => Outcome::Failed(e.to_string()),
                Err(e) => Outcome::Retry(e.to_string()),
            },
        )
    }

    /// A mail that waited (SMTP down or not yet set up) and was overtaken
    /// is not sent: a question when the ticket no longer waits for the
    /// customer (answered, or solved meanwhile), or a status mail after
    /// which another one was written. Receipts and
    /// solutions always go. Checked before the first rendering only: once
    /// rendered, a mail is sent as it is.
    async fn outdated(
        &self,
        mail: &OutboxMail,
        ticket: &Ticket,
    ) -> ticketwerk_storage::Result<bool> {
        match mail.template {
            Template::DeskQuestion => Ok(ticket.status != TicketStatus::WaitingForCustomer),
            Template::StatusChanged => self.store.later_mail_exists(mail).await,
            _ => Ok(false),
        }
    }

    /// Renders and builds the message, and keeps it for retries. The inner
    /// error is a reason for the desk: a template that does not render.
    async fn render(
        &self,
        mail: &OutboxMail,
        to: &Email,
        ticket: &Ticket,
    ) -> ticketwerk_storage::Result<Result<String, String>> {
        let recipient = self.store.person(mail.recipient_id).await?;
        let entry_body = match mail.entry_id {
            Some(entry) => self.store.entry_body(ticket.id, entry).await?,
            None => None,
        };
        let lang = mail.language;
        let reference = Some(ticket.reference.clone()).filter(|r| !r.trim().is_empty());
        let context = Context {
            number: ticket.number.clone(),
            short_text: ticket.short_text.clone(),
            reference,
            recipient_name: recipient
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            reported_by: Some(ticket.reported_by_name.clone()),
            status_label: Some((self.status_label)(ticket.status, lang)),
            entry_body,
            portal_url: format!("{}/tickets/{}", self.settings.portal_url, ticket.number),
            provider_name: self.settings.provider_name.clone(),
        };
        let rendered = match self.templates.render(mail.template, lang, &context) {
            Ok(rendered) => rendered,
            Err(e) => return Ok(Err(format!("template: {e}"))),
        };
        let domain = self.settings.from.domain().to_string();
        let message_id = message_id_for(
            &ticket.number,
            mail.id,
            &self.settings.message_id_key,
            &domain,
        );
        let thread = self.store.thread_of_mail(mail).await?;
        let outgoing = Outgoing {
            from: Party {
                name: Some(self.settings.provider_name.clone()),
                email: self.settings.from.clone(),
            },
            to: vec![Party {
                name: recipient.map(|p| p.name),
                email: to.clone(),
            }],
            subject: rendered.subject.clone(),
            text: rendered.text,
            html: rendered.html,
            // When it happened, not when SMTP took it.
            date: mail.created_at,
            message_id: message_id.clone(),
            in_reply_to: thread.last().cloned(),
            references: thread,
        };
        let bytes = match outbound::build(&outgoing) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Err(e.to_string())),
        };
        // lettre encodes every header and body part as 7-bit text.
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        self.store
            .save_rendered_mail(mail.id, &rendered.subject, &message_id, &raw)
            .await?;
        Ok(Ok(raw))
    }
}
