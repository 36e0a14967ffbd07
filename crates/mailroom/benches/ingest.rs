//! Ingest throughput: every message of the shared mail corpus through
//! `Ingest::ingest` (the code path of `ticketwerk mail receive`, without
//! starting a process) into a fresh SQLite store, one after another and
//! then from several deliveries at once. Figures in docs/performance.md.
//!
//! `cargo bench -p ticketwerk-mailroom --bench ingest`
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[path = "../../mail/tests/corpus_files/mod.rs"]
mod corpus_files;

use ticketwerk_domain::Email;
use ticketwerk_mailroom::ingest::{Ingest, Settings};
use ticketwerk_storage::{FileStore, Store};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/mail");

async fn fresh() -> (Ingest, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::open(&url).await.unwrap();
    let own = vec![Email::parse("desk@provider.example").unwrap()];
    let settings = Settings::new(25 * 1024 * 1024, b"bench key".to_vec(), own);
    let files = FileStore::new(dir.path().join("files"));
    (Ingest::new(store, files, settings), dir)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        println!("SKIPPED: mail corpus {CORPUS} not found");
        return;
    }
    let mut paths = Vec::new();
    corpus_files::collect(root, &mut paths);
    paths.sort();
    let messages: Vec<Vec<u8>> = paths
        .iter()
        .filter_map(|p| {
            std::fs::read(p)
                .ok()
                .filter(|raw| corpus_files::looks_like_a_message(p, raw))
        })
        .collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!("{} messages, {:.1} MB", messages.len(), bytes as f64 / 1e6);

    let (ingest, _dir) = fresh().await;
    let start = Instant::now();
    for raw in &messages {
        ingest.ingest(raw, 1_767_225_600).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| one at a time        | {:>6.0} msg/s | {:>6.2} s |",
        messages.len() as f64 / secs,
        secs
    );

    // Redelivery of everything: each is a duplicate, nothing is written.
    let start = Instant::now();
    for raw in &messages {
        ingest.ingest(raw, 1_767_225_600).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| duplicates           | {:>6.0} msg/s | {:>6.2} s |",
        messages.len() as f64 / secs,
        secs
    );

    let (ingest, _dir2) = fresh().await;
    let ingest = Arc::new(ingest);
    let messages = Arc::new(messages);
    let start = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (ingest, messages) = (ingest.clone(), messages.clone());
            tokio::spawn(async move {
                for raw in messages.iter().skip(w).step_by(4) {
                    ingest.ingest(raw, 1_767_225_600).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| 4 deliveries at once | {:>6.0} msg/s | {:>6.2} s |",
        messages.len() as f64 / secs,
        secs
    );
}
