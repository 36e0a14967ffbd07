//! The binary's side of incoming mail: the installation's Message-ID key,
//! the ingest as `serve` and `mail receive` build it, and the pipe door.

use std::io::Read;

use anyhow::Context;
use ticketwerk_mailroom::ingest::{Ingest, Settings};
use ticketwerk_mailroom::{Delivered, DeliveryError};
use ticketwerk_storage::{FileStore, Store};

use crate::Config;

/// Exit codes of `mail receive`, as MTAs read them (sysexits.h).
pub mod exit {
    /// Stored, or delivered before: the MTA is done with it.
    pub const OK: u8 = 0;
    /// The message will never be taken: the MTA bounces it.
    pub const DATA_ERROR: u8 = 65;
    /// Try again later (database down, disk full): the MTA keeps it queued.
    pub const TEMPORARY: u8 = 75;
}

/// The key that signs our Message-IDs: random, made on first use and kept
/// in the database, so every instance and every door shares it. It must
/// not change, or replies to older mail lose their thread.
pub async fn message_id_key(store: &Store) -> anyhow::Result<Vec<u8>> {
    store
        .installation_secret(crate::MESSAGE_ID_KEY)
        .await
        .context("reading the Message-ID key")
}

/// The ingest as every door of this installation uses it.
pub async fn ingest(config: &Config, store: Store, files: FileStore) -> anyhow::Result<Ingest> {
    let key = message_id_key(&store).await?;
    Ok(Ingest::new(store, files, settings(config, key)))
}

/// The ingest's settings from the configuration: the size limit, the key,
/// our own addresses, mail from which is a loop, and the MTA whose
/// checks prove a sender.
pub fn settings(config: &Config, message_id_key: Vec<u8>) -> Settings {
    Settings::new(
        config.mail.max_bytes,
        message_id_key,
        crate::own_addresses(config),
    )
    .trusting(config.mail.trusted_authserv_id.clone())
}

/// `ticketwerk mail receive`: one message from stdin into the database.
/// Returns the exit code for the MTA and what to tell it.
pub async fn receive(config: anyhow::Result<Config>, input: impl Read) -> (u8, String) {
    let config = match config {
        Ok(config) => config,
        // A broken configuration is the operator's to fix; the mail waits.
        Err(e) => return (exit::TEMPORARY, format!("configuration: {e:#}")),
    };
    // The pipe door never makes an installation: a database that is not
    // there means a wrong --config or --data-dir, and the mail waits at
    // the MTA instead of landing where no portal reads it.
    if let Some(file) = config.default_sqlite_file()
        && !file.exists()
    {
        return (
            exit::TEMPORARY,
            format!(
                "no database at {}: is --data-dir (or --config) that of the portal? \
                 Start `ticketwerk serve` once to create it",
                file.display()
            ),
        );
    }
    let (store, files) = match crate::open_storage(&config).await {
        Ok(opened) => opened,
        Err(e) => return (exit::TEMPORARY, format!("{e:#}")),
    };
    let ingest = match ingest(&config, store.clone(), files).await {
        Ok(ingest) => ingest,
        Err(e) => return (exit::TEMPORARY, format!("{e:#}")),
    };
    let mut raw = Vec::new();
    let limit = ingest.settings().max_stored_bytes as u64 + 1;
    if let Err(e) = input.take(limit).read_to_end(&mut raw) {
        return (exit::TEMPORARY, format!("reading the message: {e}"));
    }
    let delivered = ingest.ingest(&raw, crate::now()).await;
    store.close().await;
    match delivered {
        Ok(Delivered::Stored) => (exit::OK, String::new()),
        Ok(Delivered::Duplicate) => (exit::OK, "delivered before; nothing changed".into()),
        Err(DeliveryError::Temporary(e)) => (exit::TEMPORARY, e),
        Err(DeliveryError::Permanent(e)) => (exit::DATA_ERROR, e),
    }
}
