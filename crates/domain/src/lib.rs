//! The domain of Ticketwerk: tickets, persons, business partners and the
//! rules between them. Nothing here knows HTTP or SQL; values that exist
//! here are valid, so the layers above parse once and then trust them.

pub mod access;
pub mod auth;
pub mod email;
pub mod error;
pub mod identity;
pub mod import;
pub mod mail;
pub mod masterdata;
pub mod model;
pub mod notify;
pub mod ticket;

pub use access::{Catalog, Scope, Viewer};
pub use email::Email;
pub use error::{DomainError, FieldError};
pub use ticket::{
    EntryKind, Impact, Priority, TicketKind, TicketNumber, TicketStatus, TicketType, Urgency,
};

/// Seconds since the Unix epoch. Time enters the domain as a parameter so
/// that expiry, lockout and TOTP windows are testable.
pub type Timestamp = i64;

/// Database ids of persons, business partners, tickets and so on.
pub type Id = i64;
