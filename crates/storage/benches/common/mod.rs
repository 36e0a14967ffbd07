//! The seed and the timing of the benchmarks, shared by the storage and
//! the page benchmarks: a million tickets inserted in bulk, and median and
//! p99 of repeated runs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sqlx::Executor;
use ticketwerk_storage::Store;

/// A database seeded for a benchmark, with its connection for raw SQL.
pub struct Seeded {
    pub store: Store,
    pub pool: sqlx::AnyPool,
    pub tickets: i64,
    pub postgres: bool,
    /// Holds the SQLite file until the benchmark ends.
    _dir: tempfile::TempDir,
}

/// Opens the benchmark's database (SQLite in a temp folder, or the empty
/// PostgreSQL database of `TICKETWERK_BENCH_DATABASE_URL`) and seeds
/// `BENCH_TICKETS` tickets (default a million) in bulk.
pub async fn seeded() -> Seeded {
    let tickets: i64 = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("a temp folder");
    let url = std::env::var("TICKETWERK_BENCH_DATABASE_URL").unwrap_or_else(|_| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.sqlite").display()
        )
    });
    let postgres = url.starts_with("postgres");
    let store = Store::open(&url).await.expect("the benchmark database");
    let started = Instant::now();
    let pool = sqlx::AnyPool::connect(&url)
        .await
        .expect("a connection for the seed");
    for sql in seed_sql(postgres, tickets) {
        pool.execute(sql.as_str()).await.expect("the seed");
    }
    // Planner statistics, as a running installation gathers them over time.
    pool.execute("ANALYZE").await.expect("planner statistics");
    println!(
        "seeded {tickets} tickets, {tickets} entries, {PERSONS} persons, {PARTNERS} partners \
         on {} in {:.1} s",
        if postgres { "PostgreSQL" } else { "SQLite" },
        started.elapsed().as_secs_f64()
    );
    Seeded {
        store,
        pool,
        tickets,
        postgres,
        _dir: dir,
    }
}

pub const PARTNERS: i64 = 200;
pub const PERSONS_PER_PARTNER: i64 = 100;
pub const PERSONS: i64 = PARTNERS * PERSONS_PER_PARTNER;
/// Timed runs of each query.
pub const RUNS: usize = 300;

/// `FROM` a series of rows with `i` = 1..n, on either database.
pub fn series(postgres: bool, n: i64) -> String {
    if postgres {
        format!("FROM generate_series(1, {n}) AS s(i)")
    } else {
        format!(
            "FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s \
             WHERE i < {n}) SELECT i FROM s)"
        )
    }
}

/// Bulk rows through one statement per table: ids 1..n in order, so the
/// person and partner of ticket i follow from i.
pub fn seed_sql(postgres: bool, tickets: i64) -> Vec<String> {
    let series = |n: i64| series(postgres, n);
    let number = if postgres {
        "'2026-' || lpad(i::text, 7, '0')"
    } else {
        "'2026-' || printf('%07d', i)"
    };
    let person = format!("(i % {PERSONS}) + 1");
    let partner = format!("((i % {PERSONS}) / {PERSONS_PER_PARTNER}) + 1");
    vec![
        format!(
            "INSERT INTO business_partners (customer_number, name, created_at) \
             SELECT 'K-' || i, 'Partner ' || i, 0 {}",
            series(PARTNERS)
        ),
        format!(
            "INSERT INTO persons (email, name, created_at) \
             SELECT 'p' || i || '@bench.example', 'Person ' || i, 0 {}",
            series(PERSONS)
        ),
        format!(
            "INSERT INTO memberships (person_id, business_partner_id) \
             SELECT i, ((i - 1) / {PERSONS_PER_PARTNER}) + 1 {}",
            series(PERSONS)
        ),
        // One contract per partner, naming every twentieth person.
        format!(
            "INSERT INTO contracts (business_partner_id, name, starts_at, created_at) \
             SELECT i, 'Vertrag ' || i, 0, 0 {}",
            series(PARTNERS)
        ),
        format!(
            "INSERT INTO authorisations (contract_id, person_id, starts_at, created_at) \
             SELECT ((i - 1) / {PERSONS_PER_PARTNER}) + 1, i, 0, 0 {} \
             WHERE i % 20 = 1",
            series(PERSONS)
        ),
        // Two systems per person, used by them.
        format!(
            "INSERT INTO systems (business_partner_id, kind, name, inventory_number, person_id) \
             SELECT ((((i - 1) / 2) % {PERSONS}) / {PERSONS_PER_PARTNER}) + 1, \
             CASE WHEN i % 2 = 0 THEN 'monitor' ELSE 'laptop' END, 'Gerät ' || i, 'INV-' || i, \
             ((i - 1) / 2) % {PERSONS} + 1 {}",
            series(2 * PERSONS)
        ),
        format!(
            "INSERT INTO tickets (number, business_partner_id, kind, status, is_open, \
             reported_by, reported_for, reference, short_text, description, impact, urgency, \
             ticket_type, priority, created_at, updated_at) \
             SELECT {number}, {partner}, CASE WHEN i % 10 = 0 THEN 'call' ELSE 'incident' END, \
             CASE i % 10 WHEN 0 THEN 'new' WHEN 1 THEN 'in_progress' ELSE 'closed' END, \
             CASE WHEN i % 10 < 2 THEN 1 ELSE 0 END, {person}, {person}, 'REF-' || i, \
             'Störung Nummer ' || i, 'Beschreibung ' || i, 'person', 'restricted', \
             'incident', (i % 5) + 1, 1700000000 + i * 30, 1700000000 + i * 30 {}",
            series(tickets)
        ),
        format!(
            "INSERT INTO entries (ticket_id, kind, author_id, body, created_at) \
             SELECT (i % {tickets}) + 1, CASE WHEN i % 7 = 0 THEN 'internal_note' \
             ELSE 'customer_note' END, {person}, 'Eintrag ' || i, 1700000000 + i {}",
            series(tickets)
        ),
    ]
}

pub fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 99 / 100]),
    )
}

pub async fn time<F, Fut>(label: &str, f: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    time_runs(label, RUNS, f).await
}

pub async fn time_runs<F, Fut>(label: &str, runs: usize, mut f: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f(0).await; // warm the cache
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs {
        let start = Instant::now();
        f(run).await;
        samples.push(start.elapsed());
    }
    let (median, p99) = stats(samples);
    println!("| {label:<52} | {median:>8.3} | {p99:>8.3} |");
}
