//! Incoming mail, from raw bytes to an [`Inbound`] the desk can trust.
//!
//! Mail arrives in every shape: legacy charsets, broken encoded words,
//! HTML only, bounces and out-of-office replies. [`parse`] leaves the MIME
//! work to `mail-parser` and guarantees what the rest of Ticketwerk relies
//! on: every string is valid UTF-8 without control characters, every
//! attachment has a harmless file name, the HTML is sanitised, and a
//! machine-sent mail says so in [`Inbound::automatic`], so that the caller
//! never answers a bounce or an auto-reply and no mail loop starts.
//!
//! A message over the [`Limits`] is not parsed at all; the caller holds it
//! for the desk instead of losing it.

use std::borrow::Cow;

use mail_parser::{Addr, Address, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};
use ticketwerk_domain::ticket::clean_text;
use ticketwerk_domain::{Email, Timestamp};

use crate::{hex, one_line, truncate};

/// How much of a message [`parse`] is willing to look at. A message over a
/// limit is held, not dropped: the error says which limit it broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Size of the raw message in bytes.
    pub max_bytes: usize,
    /// MIME parts, counted through attached messages too.
    pub max_parts: usize,
    /// Nesting of multiparts and attached messages; the top level is 0.
    pub max_depth: usize,
}

impl Default for Limits {
    /// Generous for real mail (providers cap at 25–50 MB), tight enough
    /// that a crafted message cannot make the poller spin.
    fn default() -> Self {
        Self {
            max_bytes: 50 * 1024 * 1024,
            max_parts: 500,
            max_depth: 12,
        }
    }
}

/// Why a message could not be taken in. Every variant means "hold it for
/// the desk"; none means the message is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message has {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the message has more than {max} MIME parts")]
    TooManyParts { max: usize },
    #[error("the message's MIME parts nest deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("the data has no message header")]
    NotAMessage,
}

/// One address of a From, To or Cc header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// The address as written, on one line.
    pub address: String,
    /// The address when it is one Ticketwerk accepts, for looking up persons.
    pub email: Option<Email>,
    /// The display name, decoded.
    pub name: Option<String>,
}

/// A file that came with the message, or an inline image of its HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Decoded and made harmless: no path, no control characters, never
    /// empty (a fallback such as `attachment-2.pdf` when the mail names none).
    pub file_name: String,
    /// `type/subtype`, lower case, without parameters.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Shown within the text (an image pasted into the mail) rather than
    /// offered as a file.
    pub inline: bool,
    /// The Content-ID without angle brackets, which `cid:` links of the
    /// HTML point to.
    pub content_id: Option<String>,
}

/// Why a mail was sent by a machine. Such a mail is stored but never
/// answered, and never opens a ticket on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Automatic {
    /// A delivery status notification: our mail did not arrive.
    Bounce,
    /// An out-of-office note, a read receipt or another automatic answer.
    AutoReply,
    /// Bulk mail or a mailing list.
    Bulk,
    /// From one of our own addresses: answering it would start a loop.
    OwnAddress,
}

/// A received message, decoded. Every string is valid UTF-8 without
/// control characters (the body keeps its line breaks and tabs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Without angle brackets. When missing, [`content_key`] stands in for
    /// deduplication.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded, on one line; empty when the mail has none.
    pub subject: String,
    /// Seconds since the Unix epoch, from the Date header when it is valid.
    pub date: Option<Timestamp>,
    /// The plain-text body, or the HTML body turned into readable text.
    pub text: String,
    /// The HTML body, sanitised, for an optional richer display.
    pub html_sanitised: Option<String>,
    pub attachments: Vec<Attachment>,
    pub automatic: Option<Automatic>,
    /// Every `Authentication-Results` header, on one line each: what the
    /// receiving MTAs found of SPF, DKIM and DMARC (see `authentication`).
    pub authentication_results: Vec<String>,
}

impl Inbound {
    /// Marks the mail as [`Automatic::OwnAddress`] when its sender is one of
    /// `own` (the addresses Ticketwerk sends from or receives at). This
    /// wins over every other classification: a mail from ourselves is the
    /// surest sign of a loop.
    pub fn with_own_addresses(mut self, own: &[Email]) -> Self {
        let sender = self.from.as_ref().and_then(|f| f.email.as_ref());
        if sender.is_some_and(|e| own.contains(e)) {
            self.automatic = Some(Automatic::OwnAddress);
        }
        self
    }
}

/// SHA-256 of the raw bytes, hex: the key that keeps a mail without a
/// Message-ID from being stored twice.
pub fn content_key(raw: &[u8]) -> String {
    hex(&Sha256::digest(raw))
}

/// Parses a raw RFC 5322 message. Headers are decoded whatever their
/// charset; the result is classified for loops (see [`Automatic`]) except
/// for own addresses, which [`Inbound::with_own_addresses`] adds.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<Inbound, ParseError> {
    if raw.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            max: limits.max_bytes,
        });
    }
    let bytes = normalise(raw);
    let message = MessageParser::default()
        .parse(bytes.as_ref())
        .filter(has_a_header)
        .ok_or(ParseError::NotAMessage)?;
    check_structure(&message, limits)?;

    let from = message.from().and_then(|a| a.first()).and_then(mailbox);
    let subject = truncate(&one_line(message.subject().unwrap_or_default()), 998);
    let automatic = classify(&message, from.as_ref(), &subject);
    let authentication_results = Headers(&message).values("Authentication-Results");
    Ok(Inbound {
        message_id: message
            .message_id()
            .map(clean_id)
            .filter(|id| !id.is_empty()),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from,
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject,
        date: message
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp()),
        text: body_text(&message),
        html_sanitised: sanitised_html(&message),
        attachments: message
            .attachments()
            .enumerate()
            .map(|(i, part)| attachment(part, i + 1))
            .collect(),
        automatic,
        authentication_results,
    })
}

/// Repairs what real deliveries carry before the first header and what
/// the parser does not expect: blank lines, the `From ` line of an mbox or
/// of an MTA pipe, and old Mac files whose lines end in a bare CR. Nothing
/// changes for a well-formed message.
fn normalise(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut start = 0;
    loop {
        let rest = &raw[start..];
        let line_end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
        let Some(end) = line_end else { break };
        let line = &rest[..end];
        let blank = line.iter().all(|&b| b == b' ' || b == b'\t');
        if !(blank || (start == 0 && line.starts_with(b"From "))) {
            break;
        }
        start += end + 1;
        if rest.get(end..end + 2) == Some(b"\r\n") {
            start += 1;
        }
    }
    let rest = &raw[start..];
    if rest.contains(&b'\r') && !rest.contains(&b'\n') {
        let mut fixed = Vec::with_capacity(rest.len() + rest.len() / 40);
        for &b in rest {
            fixed.push(b);
            if b == b'\r' {
                fixed.push(b'\n');
            }
        }
        return Cow::Owned(fixed);
    }
    Cow::Borrowed(rest)
}

/// Whether the parser found at least one header with a proper name; it
/// reads a header out of any bytes, binary garbage included.
fn has_a_header(message: &Message) -> bool {
    message.root_part().headers.iter().any(|h| {
        let name = h.name();
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    })
}

/// Counts parts and nesting before anything is decoded further. The walk
/// is bounded by the limits themselves, so it cannot run away either.
fn check_structure(message: &Message, limits: &Limits) -> Result<(), ParseError> {
    let mut parts = 0;
    walk(message, 0, 0, limits, &mut parts)
}

fn walk(
    message: &Message,
    part: usize,
    depth: usize,
    limits: &Limits,
    parts: &mut usize,
) -> Result<(), ParseError> {
    if depth > limits.max_depth {
        return Err(ParseError::TooDeep {
            max: limits.max_depth,
        });
    }
    *parts += 1;
    if *parts > limits.max_parts {
        return Err(ParseError::TooManyParts {
            max: limits.max_parts,
        });
    }
    match message.parts.get(part).map(|p| &p.body) {
        Some(PartType::Multipart(children)) => {
            // Children always come after their parent; anything else would
            // be a cycle, which the parser never builds but we never follow.
            for &child in children.iter().filter(|&&c| c as usize > part) {
                walk(message, child as usize, depth + 1, limits, parts)?;
            }
            Ok(())
        }
        Some(PartType::Message(inner)) => walk(inner, 0, depth + 1, limits, parts),
        _ => Ok(()),
    }
}

fn clean_id(id: &str) -> String {
    one_line(id.trim().trim_start_matches('<').trim_end_matches('>'))
}

fn ids(value: &mail_parser::HeaderValue) -> Vec<String> {
    let list: Vec<&str> = match value {
        mail_parser::HeaderValue::Text(id) => vec![id.as_ref()],
        mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(clean_id)
        .filter(|id| !id.is_empty())
        .collect()
}

fn mailboxes(address: Option<&Address>) -> Vec<Mailbox> {
    address
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(mailbox)
        .collect()
}

fn mailbox(addr: &Addr) -> Option<Mailbox> {
    let address = one_line(addr.address()?);
    if address.is_empty() {
        return None;
    }
    Some(Mailbox {
        email: Email::parse(&address).ok(),
        name: addr.name().map(one_line).filter(|n| !n.is_empty()),
        address,
    })
}

/// The text bodies in order; an HTML body stands in where a mail has no
/// plain text. Line breaks are normalised, control characters dropped.
fn body_text(message: &Message) -> String {
    let pieces: Vec<String> = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            PartType::Html(html) => Some(html_to_text(html)),
            _ => None,
        })
        .collect();
    let joined = pieces
        .join("\n\n")
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    clean_text(&joined, true)
}

/// Readable text from HTML: paragraphs, lists and links as a person would
/// write them by hand. If `html2text` gives up, or the HTML is too costly
/// for a real HTML parser, the mail parser's own simpler conversion still
/// yields the words.
fn html_to_text(html: &str) -> String {
    let simple = || mail_parser::decoders::html::html_to_text(html);
    if too_costly_for_the_html_parser(html) {
        return simple();
    }
    html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 78)
        .unwrap_or_else(|_| simple())
}

/// An HTML parser's work grows with each element times the depth at which
/// it stands: ten thousand nested `<div>`s, a mere 110 kB, take seconds.
/// This estimates that work in one pass over the tags (void elements such
/// as `<br>` do not nest) and says when it passes a budget no real mail
/// comes near, so a crafted one cannot stall the poller.
fn too_costly_for_the_html_parser(html: &str) -> bool {
    const BUDGET: usize = 2_000_000;
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    ];
    let mut depth: usize = 0;
    let mut work: usize = 0;
    for tag in html.split('<').skip(1) {
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        let name_len = tag.bytes().take_while(u8::is_ascii_alphanumeric).count();
        let name = tag[..name_len].to_ascii_lowercase();
        let self_closing = tag.split('>').next().is_some_and(|t| t.ends_with('/'));
        if name.is_empty() || self_closing || VOID.contains(&name.as_str()) {
            continue;
        }
        depth += 1;
        work += depth;
        if work > BUDGET {
            return true;
        }
    }
    false
}

/// The HTML bodies, sanitised: no script, no styles that reach outside,
/// no event handlers. `cid:` links stay so inline images can be shown.
/// No HTML at all when it is too costly to parse (see
/// [`too_costly_for_the_html_parser`]): the text stands in.
fn sanitised_html(message: &Message) -> Option<String> {
    let html: Vec<&str> = message
        .html_bodies()
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let html = html.join("\n");
    if html.is_empty() || too_costly_for_the_html_parser(&html) {
        return None;
    }
    let clean = ammonia::Builder::default()
        .add_url_schemes(["cid"])
        .clean(&html)
        .to_string();
    Some(clean)
}

fn attachment(part: &MessagePart, number: usize) -> Attachment {
    let content_type = content_type(part);
    let content_id = part.content_id().map(clean_id).filter(|id| !id.is_empty());
    let inline = match part.content_disposition() {
        Some(disposition) => disposition.ctype().eq_ignore_ascii_case("inline"),
        None => content_id.is_some(),
    };
    Attachment {
        file_name: safe_file_name(part.attachment_name(), &content_type, number),
        bytes: part.contents().to_vec(),
        content_type,
        inline,
        content_id,
    }
}

fn content_type(part: &MessagePart) -> String {
    let declared = part.content_type().map(|ct| match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub),
        None => ct.ctype().to_string(),
    });
    let fallback = match part.body {
        PartType::Message(_) => "message/rfc822",
        PartType::Text(_) => "text/plain",
        PartType::Html(_) => "text/html",
        _ => "application/octet-stream",
    };
    let value = one_line(&declared.unwrap_or_default()).to_ascii_lowercase();
    if value.contains('/') {
        value
    } else {
        fallback.to_string()
    }
}

/// A file name that is safe to offer for download and to show: the last
/// path segment only, no control or reserved characters, no leading dot,
/// at most 150 characters with the extension kept. A mail that names no
/// file gets `attachment-N.ext`, the extension taken from the content type.
pub fn safe_file_name(raw: Option<&str>, content_type: &str, number: usize) -> String {
    const MAX: usize = 150;
    let last = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let replaced: String = one_line(last)
        .chars()
        .map(|c| if "<>:\"|?*".contains(c) { '_' } else { c })
        .collect();
    let name = replaced.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if name.is_empty() {
        return format!("attachment-{number}.{}", extension_for(content_type));
    }
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 10 => {
            let keep = MAX - ext.chars().count() - 1;
            format!("{}.{ext}", stem.chars().take(keep).collect::<String>())
        }
        _ => name.chars().take(MAX).collect(),
    }
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "text/plain" => "txt",
        "text/html" => "html",
        "text/calendar" => "ics",
        "message/rfc822" | "message/global" => "eml",
        "application/zip" => "zip",
        _ => "bin",
    }
}

// --- Classification -------------------------------------------------------

/// Subjects of delivery status notifications, lower case. Matched as
/// substrings: servers prefix and suffix them freely.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "delivery status notification",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "undeliverable:",
    "undeliverable mail",
    "undeliverable message",
    "unzustellbar:",
    "nicht zustellbar",
    "returned mail:",
    "failure notice",
    "non remis",
    "unable to deliver",
    "delivery has failed",
    "mail system error",
];

/// Subjects of out-of-office and other automatic replies, lower case.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "abwesenheitsnotiz",
    "automatische antwort",
    "out of office",
    "out-of-office",
    "autoreply",
    "auto-reply",
    "auto reply",
    "automatic reply",
];

fn classify(message: &Message, from: Option<&Mailbox>, subject: &str) -> Option<Automatic> {
    let headers = Headers(message);
    let subject = subject.to_lowercase();
    if is_bounce(message, &headers, from, &subject) {
        Some(Automatic::Bounce)
    } else if is_auto_reply(message, &headers, &subject) {
        Some(Automatic::AutoReply)
    } else if is_bulk(&headers) {
        Some(Automatic::Bulk)
    } else {
        None
    }
}

fn is_bounce(message: &Message, headers: &Headers, from: Option<&Mailbox>, subject: &str) -> bool {
    let report = report_type(message);
    let sender_is_daemon = from.is_some_and(|f| {
        let local = f
            .address
            .split('@')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        local == "mailer-daemon" || local == "postmaster"
    });
    report.as_deref() == Some("delivery-status")
        || has_part_of_type(message, "message", "delivery-status")
        || headers.has("X-Failed-Recipients")
        || sender_is_daemon
        || BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s))
}

fn is_auto_reply(message: &Message, headers: &Headers, subject: &str) -> bool {
    let auto_submitted = headers.value("Auto-Submitted").is_some_and(|v| {
        let kind = v.split(';').next().unwrap_or_default().trim();
        !kind.eq_ignore_ascii_case("no")
    });
    // Any other report, such as a read receipt, is as automatic as an
    // out-of-office note.
    let other_report = report_type(message).is_some_and(|r| r != "delivery-status");
    // The null reverse-path (`Return-Path: <>`, written by the receiving
    // MTA) is what RFC 3834 asks automatic responders to send from.
    let null_sender = headers
        .value("Return-Path")
        .is_some_and(|v| v.trim() == "<>");
    auto_submitted
        || other_report
        || null_sender
        || headers.has("X-Autoreply")
        || headers.has("X-Autorespond")
        || headers.has("X-Auto-Response-Suppress")
        || headers.precedence().as_deref() == Some("auto_reply")
        || AUTO_REPLY_SUBJECTS.iter().any(|s| subject.contains(s))
}

fn is_bulk(headers: &Headers) -> bool {
    let precedence = headers.precedence();
    matches!(precedence.as_deref(), Some("bulk" | "list" | "junk"))
        || headers.has("List-Id")
        || headers.has("List-Unsubscribe")
}

/// The `report-type` of a top-level multipart/report, lower case;
/// `delivery-status` when the type is a report but the parameter is missing.
fn report_type(message: &Message) -> Option<String> {
    let ct = message.root_part().content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"));
    is_report.then(|| {
        ct.attribute("report-type")
            .unwrap_or("delivery-status")
            .to_ascii_lowercase()
    })
}

fn has_part_of_type(message: &Message, ctype: &str, subtype: &str) -> bool {
    message
        .parts
        .iter()
        .any(|p| p.is_content_type(ctype, subtype))
}

/// The top-level headers, looked up by name without regard to case, as
/// their raw text: the classification needs presence and simple tokens,
/// and raw text reads every header the same way whatever the parser made
/// of it.
struct Headers<'a>(&'a Message<'a>);

impl Headers<'_> {
    fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    fn value(&self, name: &str) -> Option<String> {
        self.values(name).into_iter().next()
    }

    /// Every header of this name, in the order of the message.
    fn values(&self, name: &str) -> Vec<String> {
        let raw = self.0.raw_message();
        self.0
            .root_part()
            .headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| {
                let bytes = raw
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .unwrap_or_default();
                one_line(&String::from_utf8_lossy(bytes))
            })
            .collect()
    }

    fn precedence(&self) -> Option<String> {
        self.value("Precedence").map(|p| p.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests;
