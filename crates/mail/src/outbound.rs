//! Outgoing mail: the bytes of one notification, ready for any transport.
//!
//! `lettre` writes the message: UTF-8 text and HTML as
//! multipart/alternative, headers encoded as RFC 2047 where needed, bodies
//! in quoted-printable or base64. This module adds what keeps a service
//! desk's mail well-behaved: our signed Message-ID (see
//! [`crate::matching::message_id_for`]) so replies find their ticket,
//! In-Reply-To and References so mail programs thread, and
//! `Auto-Submitted: auto-generated` plus `X-Auto-Response-Suppress: All`
//! so out-of-office programs stay quiet and no loop starts.
//!
//! There is no Bcc: every recipient is named in To, and a message goes to
//! exactly the people its headers show.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use ticketwerk_domain::{Email, Timestamp};

use crate::one_line;

const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
const SUPPRESS: HeaderName = HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

/// A person or the provider, as shown in From or To.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub name: Option<String>,
    pub email: Email,
}

/// One notification to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The provider's name and the desk's address.
    pub from: Party,
    pub to: Vec<Party>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// When the mail was written, seconds since the Unix epoch.
    pub date: Timestamp,
    /// Without angle brackets; from [`crate::matching::message_id_for`].
    pub message_id: String,
    /// The Message-ID this mail answers, without angle brackets.
    pub in_reply_to: Option<String>,
    /// Earlier Message-IDs of the thread, oldest first, without brackets.
    pub references: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0} cannot be used as a mail address")]
    Address(String),
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("the message cannot be built: {0}")]
    Message(#[from] lettre::error::Error),
}

/// The RFC 5322 bytes of `message`, with CRLF line ends.
pub fn build(message: &Outgoing) -> Result<Vec<u8>, BuildError> {
    if message.to.is_empty() {
        return Err(BuildError::NoRecipient);
    }
    let mut builder = Message::builder()
        .from(mailbox(&message.from)?)
        .subject(one_line(&message.subject))
        .date(system_time(message.date))
        .message_id(Some(angle(&message.message_id)))
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .raw_header(HeaderValue::new(SUPPRESS, "All".into()));
    for party in &message.to {
        builder = builder.to(mailbox(party)?);
    }
    if let Some(id) = &message.in_reply_to {
        builder = builder.in_reply_to(angle(id));
    }
    if !message.references.is_empty() {
        let ids: Vec<String> = message.references.iter().map(|id| angle(id)).collect();
        builder = builder.references(ids.join(" "));
    }
    let body = MultiPart::alternative_plain_html(message.text.clone(), message.html.clone());
    Ok(builder.multipart(body)?.formatted())
}

fn mailbox(party: &Party) -> Result<Mailbox, BuildError> {
    let address = party
        .email
        .as_str()
        .parse()
        .map_err(|_| BuildError::Address(party.email.to_string()))?;
    let name = party
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

/// A message id in angle brackets, on one line and without brackets of its
/// own, so no caller can break the header.
fn angle(id: &str) -> String {
    let bare: String = one_line(id)
        .chars()
        .filter(|c| !"<> ".contains(*c))
        .collect();
    format!("<{bare}>")
}

fn system_time(date: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(date).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{Limits, parse};
    use crate::matching::{message_id_for, ticket_in_references};
    use ticketwerk_domain::TicketNumber;

    const KEY: &[u8] = b"installation key";

    fn email(raw: &str) -> Email {
        match Email::parse(raw) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    fn outgoing() -> Outgoing {
        let ticket = TicketNumber::new(2026, 123);
        Outgoing {
            from: Party {
                name: Some("Müller & Söhne IT-Service".into()),
                email: email("service@provider.example"),
            },
            to: vec![Party {
                name: Some("Jörg Bäcker".into()),
                email: email("joerg@kunde.example"),
            }],
            subject: "[2026-000123] Drucker druckt nicht – Tönerfach klemmt (Ihre Referenz: Ä-1)"
                .into(),
            text: "Guten Tag Jörg Bäcker,\n\nIhr Ticket ist eingegangen. Grüße\n".into(),
            html: "<p>Guten Tag Jörg Bäcker,</p><p>Ihr Ticket ist eingegangen.</p>".into(),
            date: 1_772_525_700,
            message_id: message_id_for(&ticket, 42, KEY, "provider.example"),
            in_reply_to: Some("CAF+answer@mail.kunde.example".into()),
            references: vec![
                "first@kunde.example".into(),
                "CAF+answer@mail.kunde.example".into(),
            ],
        }
    }

    fn built(message: &Outgoing) -> Vec<u8> {
        match build(message) {
            Ok(bytes) => bytes,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn built_message_parses_back_with_umlauts() {
        let message = outgoing();
        let bytes = built(&message);
        assert!(bytes.is_ascii(), "headers and bodies are transfer-encoded");
        let mail = match parse(&bytes, &Limits::default()) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(mail.subject, message.subject);
        let from = mail.from.as_ref();
        assert_eq!(
            from.and_then(|f| f.name.as_deref()),
            Some("Müller & Söhne IT-Service")
        );
        assert_eq!(
            from.map(|f| f.address.as_str()),
            Some("service@provider.example")
        );
        assert_eq!(mail.to[0].name.as_deref(), Some("Jörg Bäcker"));
        assert_eq!(mail.text, message.text.trim_end());
        let html = mail.html_sanitised.unwrap_or_default();
        assert!(html.contains("<p>Guten Tag Jörg Bäcker,</p>"), "{html}");
        assert_eq!(mail.date, Some(message.date));
        assert_eq!(
            mail.message_id.as_deref(),
            Some(message.message_id.as_str())
        );
        assert_eq!(mail.in_reply_to, ["CAF+answer@mail.kunde.example"]);
        assert_eq!(mail.references, message.references);
        assert!(mail.attachments.is_empty());
    }

    #[test]
    fn built_message_says_it_is_automatic() {
        let bytes = built(&outgoing());
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("\r\nAuto-Submitted: auto-generated\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nX-Auto-Response-Suppress: All\r\n"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("\nbcc:"), "{text}");
        let mail = parse(&bytes, &Limits::default()).ok();
        assert_eq!(
            mail.as_ref().and_then(|m| m.automatic),
            Some(crate::Automatic::AutoReply),
            "our own mail coming back is never taken for a person's"
        );
    }

    #[test]
    fn a_reply_to_our_mail_finds_the_ticket() {
        let sent = outgoing();
        let reply = format!(
            "From: joerg@kunde.example\r\nSubject: AW: {}\r\nIn-Reply-To: <{}>\r\n\r\nDanke",
            sent.subject, sent.message_id
        );
        let mail = parse(reply.as_bytes(), &Limits::default()).ok();
        let ticket = mail.and_then(|m| ticket_in_references(&m, KEY));
        assert_eq!(ticket, Some(TicketNumber::new(2026, 123)));
    }

    #[test]
    fn header_injection_is_impossible() {
        let mut message = outgoing();
        message.subject = "Hallo\r\nBcc: all@example.de".into();
        message.message_id = "x@y>\r\nBcc: all@example.de".into();
        let text = String::from_utf8_lossy(&built(&message)).to_ascii_lowercase();
        assert!(!text.contains("\nbcc:"), "{text}");
    }

    #[test]
    fn a_message_needs_a_recipient() {
        let mut message = outgoing();
        message.to.clear();
        assert!(matches!(build(&message), Err(BuildError::NoRecipient)));
    }
}
