//! Which ticket an incoming mail belongs to.
//!
//! Two clues, in the order the caller should trust them:
//!
//! 1. Our own Message-IDs. Every mail Ticketwerk sends carries an id such
//!    as `tw.2026-000123.42.<mac>@portal.example` whose MAC is an HMAC over
//!    the ticket number and mail id. A reply names it in In-Reply-To or
//!    References, whatever the person did to the subject. The MAC is
//!    checked in constant time, so no one can attach a mail to a ticket by
//!    inventing an id.
//! 2. The ticket number in the subject, as `[2026-000123]` or anywhere
//!    else, behind any pile of `AW: WG: Re[3]:` prefixes. Only our format
//!    counts; another system's number such as `INC2026-000123` or a phone
//!    number does not.
//!
//! A subject can be typed by anyone: the caller decides, from the sender,
//! whether a mail matched only by subject may join the ticket.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ticketwerk_domain::TicketNumber;

use crate::hex;
use crate::inbound::Inbound;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a Message-ID: 64 bits, 16 hex digits. Enough
/// that guessing is hopeless, short enough to keep ids readable.
const MAC_BYTES: usize = 8;

/// The ticket number a subject refers to, if any. A number in brackets
/// (`[2026-000123]`, `[Ticket#2026-000123]`, `(2026-000123)`) wins over
/// one in the running text; otherwise the first one counts.
pub fn ticket_number_in_subject(subject: &str) -> Option<TicketNumber> {
    let candidates = candidates(subject);
    let bracketed = candidates.iter().find(|(_, in_brackets)| *in_brackets);
    bracketed
        .or(candidates.first())
        .and_then(|(number, _)| number.parse().ok())
}

/// Every token of our format in `subject`, with whether it stands inside
/// brackets. A token is 4 digits of a year from 2000, a hyphen and 6 to 12
/// digits (the domain's sequence), not glued to letters, digits or another
/// hyphen on either side.
fn candidates(subject: &str) -> Vec<(&str, bool)> {
    let bytes = subject.as_bytes();
    let glued = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut found = Vec::new();
    let mut depth: usize = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let starts_token = i == 0 || !glued(bytes[i - 1]);
        if starts_token && bytes[i].is_ascii_digit() {
            let end = token_end(bytes, i);
            if let Some(end) = end.filter(|&e| e == bytes.len() || !glued(bytes[e])) {
                found.push((&subject[i..end], depth > 0));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Where a `YYYY-NNNNNN…` token starting at `start` ends, if one does.
fn token_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits_from = |from: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let year = bytes.get(start..start + 4)?;
    let plausible_year = year[0] == b'2' && year[1] == b'0';
    let sequence = digits_from(start + 5);
    let shape = digits_from(start) == 4 && bytes.get(start + 4) == Some(&b'-');
    (plausible_year && shape && (6..=12).contains(&sequence)).then_some(start + 5 + sequence)
}

/// Reply and forward prefixes (`AW:`, `WG:`, `Re[2]:`, `Fwd:` …), however
/// many, cut off the front of a subject: the short text of a call opened
/// from a mail.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    const PREFIXES: &[&str] = &["re", "aw", "wg", "fwd", "fw", "antw", "wtr", "sv", "vs"];
    let mut rest = subject.trim_start();
    loop {
        let word_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let word = rest[..word_len].to_ascii_lowercase();
        if !PREFIXES.contains(&word.as_str()) {
            return rest;
        }
        let mut after = &rest[word_len..];
        // A counter such as `Re[2]:` or `Re(3):`.
        if let Some(inner) = after.strip_prefix(['[', '(']) {
            let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
            match inner[digits..].strip_prefix([']', ')']) {
                Some(closed) if digits > 0 => after = closed,
                _ => return rest,
            }
        }
        match after.trim_start().strip_prefix(':') {
            Some(next) => rest = next.trim_start(),
            None => return rest,
        }
    }
}

/// The Message-ID (without angle brackets) of mail `mail_id` about
/// `ticket`, signed with `key`: `tw.2026-000123.42.<16 hex>@domain`. The
/// domain is not signed, so a changed mail domain keeps old threads.
pub fn message_id_for(ticket: &TicketNumber, mail_id: i64, key: &[u8], domain: &str) -> String {
    let payload = payload(ticket.as_str(), mail_id);
    let mac = hex(&sign(key, &payload)[..MAC_BYTES]);
    format!("{payload}.{mac}@{domain}")
}

/// The ticket of one of our own Message-IDs, with or without angle
/// brackets; `None` for any other id and for one whose MAC does not verify.
pub fn ticket_of_message_id(id: &str, key: &[u8]) -> Option<TicketNumber> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _domain) = id.rsplit_once('@')?;
    let mut fields = local.split('.');
    let (tag, number, mail_id, mac) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if tag != "tw" || fields.next().is_some() {
        return None;
    }
    let ticket: TicketNumber = number.parse().ok()?;
    let mail_id: i64 = mail_id.parse().ok()?;
    let mac = unhex(mac).filter(|m| m.len() == MAC_BYTES)?;
    let mut check = HmacSha256::new_from_slice(key).ok()?;
    check.update(payload(ticket.as_str(), mail_id).as_bytes());
    // Constant time: a forger learns nothing from how long a check takes.
    check.verify_truncated_left(&mac).ok()?;
    Some(ticket)
}

/// The ticket named by one of our Message-IDs that the mail answers:
/// In-Reply-To first, then References from the newest to the oldest.
pub fn ticket_in_references(inbound: &Inbound, key: &[u8]) -> Option<TicketNumber> {
    inbound
        .in_reply_to
        .iter()
        .chain(inbound.references.iter().rev())
        .find_map(|id| ticket_of_message_id(id, key))
}

fn payload(ticket: &str, mail_id: i64) -> String {
    format!("tw.{ticket}.{mail_id}")
}

fn sign(key: &[u8], payload: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; an empty MAC
    // would never verify, which is the safe side anyway.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return vec![0; MAC_BYTES];
    };
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok().filter(|p| p.len() == 2)?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{Limits, parse};

    const KEY: &[u8] = b"a secret of the installation";

    fn number(subject: &str) -> Option<String> {
        ticket_number_in_subject(subject).map(|n| n.to_string())
    }

    #[test]
    fn finds_the_number_behind_any_prefixes_and_brackets() {
        for subject in [
            "[2026-000123] Drucker druckt nicht",
            "AW: WG: Re[3]: [2026-000123] Drucker druckt nicht",
            "RE: Aw: Wg: Fwd: FW: Fw: Antw: [Ticket#2026-000123] Drucker",
            "Re: (2026-000123) Drucker",
            "Rückfrage zu 2026-000123, bitte dringend",
            "2026-000123",
            "Drucker [2026-000123] (Ihre Referenz: INC-42)",
        ] {
            assert_eq!(number(subject).as_deref(), Some("2026-000123"), "{subject}");
        }
    }

    #[test]
    fn ignores_other_formats() {
        for subject in [
            "INC2026-000123 Drucker",
            "12026-000123 Drucker",
            "2026-0001234567890 Drucker",
            "2026-00012 Drucker",
            "26-000123 Drucker",
            "Rufnummer 0711-123456",
            "1999-123456 ist kein Ticket",
            "2026-000123-4 Drucker",
            "Re[2]: Drucker",
            "",
        ] {
            assert_eq!(number(subject), None, "{subject}");
        }
    }

    #[test]
    fn bracketed_number_wins_over_one_in_the_text() {
        let subject = "AW: wie 2025-000999 auch [2026-000123] Drucker";
        assert_eq!(number(subject).as_deref(), Some("2026-000123"));
        assert_eq!(
            number("2026-000001 und 2026-000002").as_deref(),
            Some("2026-000001")
        );
    }

    #[test]
    fn longer_sequences_of_the_domain_format_count() {
        assert_eq!(number("[2031-1000000] x").as_deref(), Some("2031-1000000"));
    }

    #[test]
    fn strips_reply_and_forward_prefixes() {
        assert_eq!(
            strip_reply_prefixes("AW: WG: Re[3]: Re(2): FWD:Drucker druckt nicht"),
            "Drucker druckt nicht"
        );
        assert_eq!(
            strip_reply_prefixes("Reklamation: Monitor"),
            "Reklamation: Monitor"
        );
        assert_eq!(strip_reply_prefixes("Re[x]: Monitor"), "Re[x]: Monitor");
        assert_eq!(strip_reply_prefixes("Re"), "Re");
    }

    #[test]
    fn message_ids_round_trip_and_forgeries_fail() {
        let ticket = TicketNumber::new(2026, 123);
        let id = message_id_for(&ticket, 42, KEY, "portal.example");
        assert!(id.starts_with("tw.2026-000123.42."), "{id}");
        assert!(id.ends_with("@portal.example"), "{id}");
        assert_eq!(ticket_of_message_id(&id, KEY), Some(ticket.clone()));
        assert_eq!(ticket_of_message_id(&format!("<{id}>"), KEY), Some(ticket));

        // Another ticket number with the MAC of the genuine one.
        let forged = id.replace("2026-000123", "2026-000124");
        assert_eq!(ticket_of_message_id(&forged, KEY), None);
        // A made-up MAC, a wrong key, a missing or truncated MAC.
        let made_up = "tw.2026-000123.42.0011223344556677@portal.example";
        assert_eq!(ticket_of_message_id(made_up, KEY), None);
        assert_eq!(ticket_of_message_id(&id, b"another key"), None);
        assert_eq!(
            ticket_of_message_id("tw.2026-000123.42@portal.example", KEY),
            None
        );
        let short = format!("{}@portal.example", &id[..id.find('@').unwrap_or(0) - 2]);
        assert_eq!(ticket_of_message_id(&short, KEY), None);
        assert_eq!(ticket_of_message_id("CAF1234@mail.gmail.com", KEY), None);
    }

    #[test]
    fn references_are_searched_after_in_reply_to() {
        let ours = message_id_for(&TicketNumber::new(2026, 7), 3, KEY, "portal.example");
        let raw = format!(
            "From: a@b.de\r\nSubject: Re: Drucker\r\nIn-Reply-To: <x@y.de>\r\n\
             References: <{ours}> <x@y.de>\r\n\r\nDanke"
        );
        let mail = parse(raw.as_bytes(), &Limits::default());
        let found = mail.ok().and_then(|m| ticket_in_references(&m, KEY));
        assert_eq!(found.map(|t| t.to_string()).as_deref(), Some("2026-000007"));
    }
}
