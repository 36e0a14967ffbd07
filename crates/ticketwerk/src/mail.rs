//! The binary's side of incoming mail: the installation's Message-ID key,
//! the ingest as `serve` and `mail receive` build it, and the pipe door.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use ticketwerk_domain::Email;
use ticketwerk_mailroom::ingest::{Ingest, Settings};
use ticketwerk_mailroom::{Delivered, DeliveryError};
use ticketwerk_storage::{FileStore, Store};

use crate::Config;

/// The file in the data directory that holds the key signing our
/// Message-IDs. It must not change, or replies to older mail lose their
/// thread; it is not a password, but whoever has it can attach mail to
/// any ticket's thread, so only the owner may read it. Several instances
/// on one PostgreSQL database must share it (like the attachments folder).
pub const MESSAGE_ID_KEY_FILE: &str = "message-id.key";

/// Exit codes of `mail receive`, as MTAs read them (sysexits.h).
pub mod exit {
    /// Stored, or delivered before: the MTA is done with it.
    pub const OK: u8 = 0;
    /// The message will never be taken: the MTA bounces it.
    pub const DATA_ERROR: u8 = 65;
    /// Try again later (database down, disk full): the MTA keeps it queued.
    pub const TEMPORARY: u8 = 75;
}

/// The key that signs our Message-IDs, made on first use. Written to a
/// temporary file and linked into place, so two processes starting at
/// once end with the same key and nobody reads half of one.
pub fn message_id_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join(MESSAGE_ID_KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return unhex(text.trim()).with_context(|| format!("{} is damaged", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let key: [u8; 32] = rand::random();
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = data_dir.join(format!(
        ".{MESSAGE_ID_KEY_FILE}.{:016x}",
        rand::random::<u64>()
    ));
    write_private(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = linked
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(e).with_context(|| format!("cannot create {}", path.display()));
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    unhex(text.trim()).with_context(|| format!("{} is damaged", path.display()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

fn unhex(text: &str) -> anyhow::Result<Vec<u8>> {
    if text.len() < 32 || !text.len().is_multiple_of(2) {
        anyhow::bail!("the key is not hex of at least 16 bytes");
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).context("the key is not hex"))
        .collect()
}

/// The ingest as every door of this installation uses it.
pub fn ingest(config: &Config, store: Store, files: FileStore) -> anyhow::Result<Ingest> {
    Ok(Ingest::new(store, files, settings(config)?))
}

/// The ingest's settings from the configuration: the size limit, the key,
/// and our own addresses (the sender of our mail and the office address),
/// mail from which is a loop.
pub fn settings(config: &Config) -> anyhow::Result<Settings> {
    let key = message_id_key(&config.data_dir)?;
    let mut own = vec![config.mail.from.clone()];
    if let Ok(office) = Email::parse(&config.web.office_email)
        && !own.contains(&office)
    {
        own.push(office);
    }
    Ok(Settings::new(config.mail.max_bytes, key, own))
}

/// `ticketwerk mail receive`: one message from stdin into the database.
/// Returns the exit code for the MTA and what to tell it.
pub async fn receive(config: anyhow::Result<Config>, input: impl Read) -> (u8, String) {
    let config = match config {
        Ok(config) => config,
        // A broken configuration is the operator's to fix; the mail waits.
        Err(e) => return (exit::TEMPORARY, format!("configuration: {e:#}")),
    };
    let settings = match settings(&config) {
        Ok(settings) => settings,
        Err(e) => return (exit::TEMPORARY, format!("{e:#}")),
    };
    let mut raw = Vec::new();
    let limit = settings.max_stored_bytes as u64 + 1;
    if let Err(e) = input.take(limit).read_to_end(&mut raw) {
        return (exit::TEMPORARY, format!("reading the message: {e}"));
    }
    let (store, files) = match crate::open_storage(&config).await {
        Ok(opened) => opened,
        Err(e) => return (exit::TEMPORARY, format!("{e:#}")),
    };
    let ingest = Ingest::new(store.clone(), files, settings);
    let delivered = ingest.ingest(&raw, crate::now()).await;
    store.close().await;
    match delivered {
        Ok(Delivered::Stored) => (exit::OK, String::new()),
        Ok(Delivered::Duplicate) => (exit::OK, "delivered before; nothing changed".into()),
        Err(DeliveryError::Temporary(e)) => (exit::TEMPORARY, e),
        Err(DeliveryError::Permanent(e)) => (exit::DATA_ERROR, e),
    }
}
