//! The outbox worker (see the crate documentation).
