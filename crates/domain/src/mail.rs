//! What becomes of an incoming mail, in words the desk and storage share.
//! The rules that choose among them live with the ingest
//! (`ticketwerk-mailroom`), which needs the parsed mail and the database.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;
use crate::ticket::code_enum;

code_enum! {
    /// Where a stored incoming mail ended.
    MailFate {
        /// An entry on an existing ticket (visible in the portal or not).
        Entry => "entry",
        /// A new call opened from it.
        NewCall => "new_call",
        /// Waiting for the desk to accept, retry or discard it.
        Held => "held",
        /// The desk looked at it and threw it away; the raw mail stays.
        Discarded => "discarded",
    }
}

code_enum! {
    /// Why a mail is held for the desk instead of joining a ticket.
    HoldReason {
        /// No active person has the sender's address, or the mail has no
        /// sender at all.
        UnknownSender => "unknown_sender",
        /// The sender is a person, but of no business partner to open a
        /// call in (an agent writing to the desk's own address, say).
        NoBusinessPartner => "no_business_partner",
        /// The sender belongs to several business partners and the mail
        /// names no ticket: which one the call is for is the desk's choice,
        /// since a call opened in the wrong one would show it to that
        /// partner's authorised persons.
        SeveralBusinessPartners => "several_business_partners",
        /// The mail's ticket is closed; the desk decides whether to reopen.
        TicketClosed => "ticket_closed",
        /// A bounce, an auto-reply, list mail or mail from our own
        /// address that belongs to no ticket. Never answered.
        Automatic => "automatic",
        /// Larger than the configured limit, or too many or too deeply
        /// nested MIME parts: not read at all.
        TooLarge => "too_large",
        /// The bytes could not be read as a mail.
        Unparseable => "unparseable",
        /// From a known person's address, but the receiving MTA does not
        /// vouch for it (no aligned DMARC, DKIM or SPF pass).
        UnverifiedSender => "unverified_sender",
    }
}

/// The short text of a call opened from a mail is cut to what the portal's
/// form accepts.
pub const SHORT_TEXT_CHARS: usize = 200;
/// The text of an entry or call from a mail is cut to what the portal's
/// form accepts; the raw mail keeps all of it.
pub const TEXT_CHARS: usize = 50_000;

/// At most `max` characters of `text`, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_text_is_cut() {
        for r in HoldReason::ALL {
            assert_eq!(r.code().parse::<HoldReason>().ok(), Some(*r));
        }
        assert_eq!("held".parse::<MailFate>().ok(), Some(MailFate::Held));
        assert_eq!(cut("Drucker", 10), "Drucker");
        assert_eq!(cut("Druckerpatrone", 6), "Druck…");
    }
}
