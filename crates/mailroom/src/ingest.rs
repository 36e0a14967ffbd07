//! The ingest of incoming mail (see the crate documentation).
