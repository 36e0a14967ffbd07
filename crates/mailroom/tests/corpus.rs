//! Every message of the shared mail corpus through the real ingest into a
//! fresh SQLite store: none may fail or panic, and each ends as exactly one
//! entry, one new call or one held message (or is recognised as delivered
//! before). The corpus is read where it lies and never copied into this
//! repository.
//!
//! `cargo test -p ticketwerk-mailroom --test corpus -- --nocapture` prints
//! a summary per source.
#![allow(clippy::unwrap_used)]

#[path = "../../storage/tests/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../mail/tests/corpus_files/mod.rs"]
mod corpus_files;

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;
use ticketwerk_domain::Email;
use ticketwerk_mailroom::Delivered;
use ticketwerk_mailroom::ingest::{Ingest, Settings};
use ticketwerk_storage::{FileStore, Store};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/mail");

#[derive(Default)]
struct Tally {
    files: usize,
    duplicates: usize,
    entries: usize,
    calls: usize,
    held: BTreeMap<String, usize>,
}

impl Tally {
    fn held_total(&self) -> usize {
        self.held.values().sum()
    }

    fn add(&mut self, other: &Tally) {
        self.files += other.files;
        self.duplicates += other.duplicates;
        self.entries += other.entries;
        self.calls += other.calls;
        for (reason, n) in &other.held {
            *self.held.entry(reason.clone()).or_default() += n;
        }
    }

    fn row(&self, name: &str) -> String {
        let held = |r: &str| self.held.get(r).copied().unwrap_or(0);
        format!(
            "| {name:<24} | {:>5} | {:>9} | {:>5} | {:>8} | {:>4} | {:>9} | {:>7} | {:>11} | {:>5} |",
            self.files,
            self.duplicates,
            self.entries,
            self.calls,
            self.held_total(),
            held("automatic"),
            held("unknown_sender"),
            held("unparseable"),
            held("too_large"),
        )
    }
}

fn most_frequent_sender(files: &[std::path::PathBuf]) -> Option<Email> {
    let mut senders: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let Ok(raw) = std::fs::read(path) else {
            continue;
        };
        let limits = ticketwerk_mail::Limits::default();
        let Ok(mail) = ticketwerk_mail::inbound::parse(&raw, &limits) else {
            continue;
        };
        if let Some(email) = mail
            .from
            .and_then(|f| f.email)
            .filter(|_| mail.automatic.is_none())
        {
            *senders.entry(email.as_str().to_string()).or_default() += 1;
        }
    }
    let (email, _) = senders.into_iter().max_by_key(|(_, n)| *n)?;
    Email::parse(&email).ok()
}

#[tokio::test]
async fn every_corpus_message_ends_as_one_entry_call_or_held_mail() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        println!("SKIPPED: mail corpus {CORPUS} not found");
        return;
    }
    let mut files = Vec::new();
    corpus_files::collect(root, &mut files);
    files.sort();

    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("corpus.db").display()
    );
    let store = Store::open(&url).await.unwrap();
    let w = common::World::create(&store).await;
    let new = common::report(w.acme, w.ben, w.ben, "Drucker");
    store
        .create_ticket(&new, &[], common::YEAR, common::T0)
        .await
        .unwrap();
    // The corpus's most frequent human sender becomes a person of Acme, so
    // the run opens calls as well as holding mail.
    let regular = most_frequent_sender(&files);
    if let Some(email) = &regular {
        let person = common::new_person(email.as_str(), "Regular Sender", false);
        let id = store.create_person(&person, common::T0).await.unwrap();
        store.add_membership(id, w.acme, false).await.unwrap();
    }
    let own = vec![Email::parse("desk@provider.example").unwrap()];
    let settings = Settings::new(25 * 1024 * 1024, b"corpus key".to_vec(), own);
    let ingest = Ingest::new(
        store.clone(),
        FileStore::new(dir.path().join("files")),
        settings,
    );
    let check = sqlx::SqlitePool::connect(&url).await.unwrap();

    let mut per_source: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in files {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        if !corpus_files::looks_like_a_message(&path, &raw) {
            continue;
        }
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let source = shown
            .split(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_string();
        let tally = per_source.entry(source).or_default();
        tally.files += 1;
        match ingest.ingest(&raw, common::T0).await {
            Err(e) => failures.push(format!("{shown}: {e}")),
            Ok(Delivered::Duplicate) => tally.duplicates += 1,
            Ok(Delivered::Stored) => {
                let last =
                    sqlx::query("SELECT fate, reason FROM inbound_mails ORDER BY id DESC LIMIT 1")
                        .fetch_one(&check)
                        .await
                        .unwrap();
                let fate: String = last.get("fate");
                let reason: Option<String> = last.get("reason");
                match fate.as_str() {
                    "entry" => tally.entries += 1,
                    "new_call" => tally.calls += 1,
                    "held" => *tally.held.entry(reason.unwrap_or_default()).or_default() += 1,
                    other => failures.push(format!("{shown}: ended as {other}")),
                }
            }
        }
    }

    let mut total = Tally::default();
    for tally in per_source.values() {
        total.add(tally);
    }
    println!(
        "| source                   | files | duplicate | entry | new call | held | automatic | unknown | unparseable | large |"
    );
    println!(
        "| ------------------------ | ----- | --------- | ----- | -------- | ---- | --------- | ------- | ----------- | ----- |"
    );
    for (source, tally) in &per_source {
        println!("{}", tally.row(source));
    }
    println!("{}", total.row("all"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total.files > 0);

    // What the database holds agrees with what each delivery said.
    let count = |sql: &'static str| {
        let check = check.clone();
        async move {
            let n: i64 = sqlx::query(sql).fetch_one(&check).await.unwrap().get("n");
            n as usize
        }
    };
    let stored = total.files - total.duplicates;
    assert_eq!(
        count("SELECT count(*) AS n FROM inbound_mails").await,
        stored
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM inbound_mails WHERE fate = 'entry' AND entry_id IS NOT NULL"
        )
        .await,
        total.entries
    );
    assert_eq!(
        count("SELECT count(DISTINCT entry_id) AS n FROM inbound_mails").await,
        total.entries,
        "no entry made of two mails"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM tickets").await,
        total.calls + 1
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM inbound_mails WHERE fate = 'held'").await,
        total.held_total()
    );
    assert_eq!(total.entries + total.calls + total.held_total(), stored);
    assert_eq!(
        count("SELECT count(*) AS n FROM entries e WHERE e.kind IN ('report', 'desk_mail')").await,
        total.entries
    );
}
