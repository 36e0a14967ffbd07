//! The seed and the timing of the benchmarks, shared by the storage and
//! the page benchmarks: a million tickets inserted in bulk, and median and
//! p99 of repeated runs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub const PARTNERS: i64 = 200;
pub const PERSONS_PER_PARTNER: i64 = 100;
pub const PERSONS: i64 = PARTNERS * PERSONS_PER_PARTNER;
/// Timed runs of each query.
pub const RUNS: usize = 300;

/// Bulk rows through one statement per table: ids 1..n in order, so the
/// person and partner of ticket i follow from i.
pub fn seed_sql(postgres: bool, tickets: i64) -> Vec<String> {
    let series = |n: i64| {
        if postgres {
            format!("FROM generate_series(1, {n}) AS s(i)")
        } else {
            format!(
                "FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s \
                 WHERE i < {n}) SELECT i FROM s)"
            )
        }
    };
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
            "INSERT INTO memberships (person_id, business_partner_id, authorised) \
             SELECT i, ((i - 1) / {PERSONS_PER_PARTNER}) + 1, 0 {}",
            series(PERSONS)
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
