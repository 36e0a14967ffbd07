//! Every message of the shared mail corpus (test suites of other mail
//! parsers and ticket systems) through `inbound::parse`: none may panic,
//! and every parsed one must give valid, control-free text. The corpus is
//! read where it lies and never copied into this repository.
//!
//! `cargo test -p ticketwerk-mail --test corpus -- --nocapture` prints a
//! summary per source; with `CORPUS_VERBOSE=1` also one line per file.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use ticketwerk_mail::inbound::{Automatic, Inbound, Limits, parse};

mod corpus_files;
use corpus_files::{collect, looks_like_a_message};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/mail");

#[derive(Default)]
struct Tally {
    files: usize,
    parsed: usize,
    held: usize,
    bounces: usize,
    auto_replies: usize,
    lists: usize,
    own: usize,
    with_attachments: usize,
}

impl Tally {
    fn count(&mut self, result: &Result<Inbound, ticketwerk_mail::ParseError>) {
        self.files += 1;
        let Ok(mail) = result else {
            self.held += 1;
            return;
        };
        self.parsed += 1;
        match mail.automatic {
            Some(Automatic::Bounce) => self.bounces += 1,
            Some(Automatic::AutoReply) => self.auto_replies += 1,
            Some(Automatic::Bulk) => self.lists += 1,
            Some(Automatic::OwnAddress) => self.own += 1,
            None => {}
        }
        if !mail.attachments.is_empty() {
            self.with_attachments += 1;
        }
    }

    fn add(&mut self, other: &Tally) {
        self.files += other.files;
        self.parsed += other.parsed;
        self.held += other.held;
        self.bounces += other.bounces;
        self.auto_replies += other.auto_replies;
        self.lists += other.lists;
        self.own += other.own;
        self.with_attachments += other.with_attachments;
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name:<24} | {:>5} | {:>6} | {:>4} | {:>7} | {:>12} | {:>5} | {:>16} |",
            self.files,
            self.parsed,
            self.held,
            self.bounces,
            self.auto_replies,
            self.lists,
            self.with_attachments,
        )
    }
}

#[test]
fn every_corpus_message_parses_or_is_held() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        println!("SKIPPED: mail corpus {CORPUS} not found");
        return;
    }
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();

    let limits = Limits::default();
    let verbose = std::env::var_os("CORPUS_VERBOSE").is_some();
    let mut per_source: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in files {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        if !looks_like_a_message(&path, &raw) {
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
        match catch_unwind(AssertUnwindSafe(|| parse(&raw, &limits))) {
            Err(_) => failures.push(format!("{shown}: parse panicked")),
            Ok(result) => {
                if verbose {
                    println!("{shown}\t{}", outcome(&result));
                }
                if let Ok(mail) = &result {
                    failures.extend(
                        check(mail)
                            .into_iter()
                            .map(|problem| format!("{shown}: {problem}")),
                    );
                }
                per_source.entry(source).or_default().count(&result);
            }
        }
    }

    print_summary(&per_source);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(per_source.values().map(|t| t.parsed).sum::<usize>() > 0);
}

fn outcome(result: &Result<Inbound, ticketwerk_mail::ParseError>) -> String {
    match result {
        Ok(mail) => format!("{:?}\t{}", mail.automatic, mail.subject),
        Err(e) => format!("held: {e}"),
    }
}

/// What every parsed message must satisfy: text without control
/// characters (line breaks and tabs aside), a one-line subject, named
/// attachments. Strings are valid UTF-8 by their type.
fn check(mail: &Inbound) -> Vec<String> {
    let mut problems = Vec::new();
    let control = |s: &str, multiline: bool| {
        s.chars()
            .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    };
    if control(&mail.subject, false) {
        problems.push(format!("control character in subject {:?}", mail.subject));
    }
    if control(&mail.text, true) {
        problems.push("control character in text".to_string());
    }
    for attachment in &mail.attachments {
        let name = &attachment.file_name;
        if name.is_empty() || name.contains(['/', '\\']) || control(name, false) {
            problems.push(format!("unsafe attachment name {name:?}"));
        }
    }
    problems
}

fn print_summary(per_source: &BTreeMap<String, Tally>) {
    let header = format!(
        "| {:<24} | files | parsed | held | bounces | auto-replies | lists | with attachments |",
        "source"
    );
    println!("\n{header}");
    println!("|{}|", "-".repeat(header.len() - 2));
    let mut total = Tally::default();
    for (source, tally) in per_source {
        println!("{}", tally.row(source));
        total.add(tally);
    }
    println!("{}", total.row("total"));
    println!(
        "(from own address: {}; held = ParseError, kept for the desk)",
        total.own
    );
}
