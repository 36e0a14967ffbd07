//! The mailroom: everything about mail that touches a database or a
//! network. `ticketwerk-mail` decides (parsing, matching, templates, the
//! bytes of a message) with pure functions; this crate moves the mail.
//!
//! - [`outbox`]: the worker that sends the notifications the storage layer
//!   wrote in the same transaction as their cause, over SMTP, with retries.
//! - [`ingest`]: one incoming message, from raw bytes to an entry on its
//!   ticket, a new call or a message held for the desk; stored once.
//! - [`imap`]: polls a mailbox and hands each message to an [`Inbox`],
//!   marking it done only after the inbox has committed it.
//!
//! The MTA pipe door (`ticketwerk mail receive`) and the IMAP poller both
//! deliver through the [`Inbox`] trait, so they share every rule.

pub mod imap;
pub mod ingest;
pub mod outbox;

use std::future::Future;

/// Chooses rustls's crypto provider for the whole process. Dependencies
/// bring more than one (ring through the SMTP client, aws-lc through some
/// HTTP clients), and rustls then refuses to guess; calling this before the
/// first TLS connection settles it. Calling it again is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Now, in Unix seconds: the clock of the workers. Tests pass time in.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What became of one delivered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Newly stored: an entry, a new call or a held message.
    Stored,
    /// Delivered before (same Message-ID, or same content): nothing changed.
    Duplicate,
}

/// Why a message could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Nothing was written; delivering the same bytes later may succeed
    /// (the database did not answer, the disk was full). An MTA retries,
    /// the IMAP poller leaves the message in the mailbox.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The message will never be taken (larger than any limit allows to
    /// store). An MTA bounces it; the IMAP poller flags it as refused and
    /// leaves it in the mailbox for a person to look at.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Where incoming messages go. Implemented by [`ingest::Ingest`] on a real
/// database; the IMAP poller and the pipe door only know this trait.
pub trait Inbox: Send + Sync {
    /// Stores one raw RFC 5322 message, or knows it already. Returns only
    /// after what it stored is committed.
    fn deliver(&self, raw: &[u8]) -> impl Future<Output = Result<Delivered, DeliveryError>> + Send;
}
