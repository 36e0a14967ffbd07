//! The IMAP poller (see the crate documentation).
