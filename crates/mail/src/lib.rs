//! Mail in and out, as pure functions: no database, no network.
//!
//! - [`inbound`] turns the raw bytes of a received message into an
//!   [`inbound::Inbound`]: decoded headers, readable text, sanitised HTML,
//!   attachments, and whether a machine sent it (bounce, auto-reply, list),
//!   so that no mail loop starts.
//! - [`matching`] finds the ticket a mail belongs to: a ticket number in the
//!   subject, or one of our own signed Message-IDs in its references.
//! - [`templates`] renders the notification mails from compiled-in defaults
//!   that an operator may override.
//! - [`outbound`] builds the RFC 5322 bytes of a notification.
//!
//! The storage layer, the SMTP worker, the IMAP poller and the MTA command
//! call these functions; keeping them free of I/O makes every rule testable
//! with a byte string.

pub mod authentication;
pub mod inbound;
pub mod matching;
pub mod outbound;
pub mod templates;

pub use inbound::{Automatic, Inbound, Limits, ParseError};
pub use outbound::{BuildError, Outgoing, Party};
pub use templates::{Rendered, Template, TemplateError, Templates};

use ticketwerk_domain::ticket::clean_text;

/// A header value on one line: control characters (CR and LF included)
/// become spaces, runs of white space collapse, bidi overrides go. Header
/// values that reach a mail or a page pass through here, so no one can
/// smuggle a header or a misleading direction mark in.
pub(crate) fn one_line(raw: &str) -> String {
    let spaced: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean_text(&spaced, false)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most `max` characters of `text`, cut at a character boundary with an
/// ellipsis when something was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_breaks_and_controls() {
        assert_eq!(
            one_line(" a\r\nBcc: x@y.de\t b\u{0}c "),
            "a Bcc: x@y.de b c"
        );
        assert_eq!(one_line("\u{202E}abc"), "abc");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("Größe", 10), "Größe");
        assert_eq!(truncate("Größenänderung", 6), "Größe…");
    }
}
