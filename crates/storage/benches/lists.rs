//! How fast are the ticket lists, the ticket view and the session lookup
//! at a million tickets? Seeds a fresh database in bulk, then times each
//! query the pages make, many times over, and prints median and p99.
//!
//! `cargo bench -p ticketwerk-storage --bench lists` uses SQLite in a temp
//! folder; `TICKETWERK_BENCH_DATABASE_URL=postgres://…` a PostgreSQL
//! database (it must be empty); `BENCH_TICKETS=N` another size.
#![allow(clippy::unwrap_used)]

use ticketwerk_domain::access::{Scope, StatusFilter};
use ticketwerk_domain::{EntryKind, TicketNumber};
use ticketwerk_storage::{SortKey, TicketQuery};

mod common;
use common::{PERSONS, PERSONS_PER_PARTNER, RUNS, seeded, time, time_runs};

fn query(scope: Scope, status: StatusFilter, sort: SortKey, descending: bool) -> TicketQuery {
    TicketQuery {
        columns: Default::default(),
        scope,
        status,
        sort,
        descending,
        search: None,
        after: None,
        limit: 25,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Kept whole to the end: it holds the database's folder.
    let db = seeded().await;
    let (store, pool, tickets) = (db.store.clone(), db.pool.clone(), db.tickets);
    if let Ok(sql) = std::env::var("BENCH_EXPLAIN") {
        use sqlx::Row;
        for row in sqlx::query(&sql).fetch_all(&pool).await.unwrap() {
            println!("plan: {:?}", row.try_get::<String, _>(row.len() - 1));
        }
    }
    println!(
        "| {:<52} | {:>8} | {:>8} |",
        "query (25 rows a page)", "median ms", "p99 ms"
    );
    println!("|{:-<54}|{:-<10}|{:-<10}|", "", "", "");

    let person = |run: usize| (run as i64 * 37) % PERSONS + 1;
    let partner_of = |p: i64| ((p - 1) / PERSONS_PER_PARTNER) + 1;
    let involving = |p: i64| Scope::Involving {
        person: p,
        partners: vec![partner_of(p)],
    };

    time("my open tickets (person, by last change)", |run| {
        let q = query(
            involving(person(run)),
            StatusFilter::Open,
            SortKey::Updated,
            true,
        );
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    time("my closed tickets (person, by last change)", |run| {
        let q = query(
            involving(person(run)),
            StatusFilter::Closed,
            SortKey::Updated,
            true,
        );
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    time("business partner's open tickets", |run| {
        let q = query(
            Scope::Partners(vec![partner_of(person(run))]),
            StatusFilter::Open,
            SortKey::Updated,
            true,
        );
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    time("business partner's closed tickets, by priority", |run| {
        let q = query(
            Scope::Partners(vec![partner_of(person(run))]),
            StatusFilter::Closed,
            SortKey::Priority,
            false,
        );
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    for (label, sort, desc) in [
        ("desk: open tickets, by last change", SortKey::Updated, true),
        ("desk: open tickets, by priority", SortKey::Priority, false),
        ("desk: open tickets, by number", SortKey::Number, true),
        (
            "desk: open tickets, by short text",
            SortKey::ShortText,
            false,
        ),
    ] {
        time(label, |_| {
            let q = query(Scope::All, StatusFilter::Open, sort, desc);
            let store = &store;
            async move {
                store.list_tickets(&q).await.unwrap();
            }
        })
        .await;
    }
    let first = store
        .list_tickets(&query(
            Scope::All,
            StatusFilter::Open,
            SortKey::Updated,
            true,
        ))
        .await
        .unwrap();
    time("desk: open tickets, next page (keyset)", |_| {
        let mut q = query(Scope::All, StatusFilter::Open, SortKey::Updated, true);
        q.after = first.next.clone();
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    time("desk: new calls", |_| {
        let q = query(Scope::All, StatusFilter::NewCalls, SortKey::Updated, true);
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    time("my open tickets, quick search", |run| {
        let mut q = query(
            involving(person(run)),
            StatusFilter::Open,
            SortKey::Updated,
            true,
        );
        q.search = Some("nummer 1".into());
        let store = &store;
        async move {
            store.list_tickets(&q).await.unwrap();
        }
    })
    .await;
    // Over all tickets a trigram index narrows the search (FTS5, pg_trgm).
    // Every short text reads "Störung Nummer <i>": "nummer 4711" is in 111
    // tickets (23 of them open), "nummer" and "störung" are in all, and
    // "nummer 47" in 1 % of them, none of those among the newest.
    for (label, term, runs) in [
        ("desk: quick search, rare term", "nummer 4711", RUNS),
        ("desk: quick search, common term", "nummer", RUNS),
        (
            "desk: quick search, common term with umlaut",
            "Störung",
            RUNS,
        ),
        (
            "desk: quick search, 1 % of tickets, none recent",
            "nummer 47",
            20,
        ),
    ] {
        time_runs(label, runs, |_| {
            let mut q = query(Scope::All, StatusFilter::Open, SortKey::Updated, true);
            q.search = Some(term.into());
            let store = &store;
            async move {
                store.list_tickets(&q).await.unwrap();
            }
        })
        .await;
    }
    time(
        "desk: all open tickets, quick search for a ticket number",
        |run| {
            let mut q = query(Scope::All, StatusFilter::Open, SortKey::Updated, true);
            q.search = Some(format!("2026-{:07}", (run as i64 * 7919) % tickets + 1));
            let store = &store;
            async move {
                store.list_tickets(&q).await.unwrap();
            }
        },
    )
    .await;
    let visible: Vec<EntryKind> = EntryKind::customer_visible_kinds().collect();
    time("ticket view: ticket, timeline, attachments", |run| {
        let n = (run as i64 * 7919) % tickets + 1;
        let number: TicketNumber = format!("2026-{n:07}").parse().unwrap();
        let (store, visible) = (&store, &visible);
        async move {
            let t = store.ticket_by_number(&number).await.unwrap().unwrap();
            store.entries(t.id, visible).await.unwrap();
            store.attachments(t.id, visible).await.unwrap();
        }
    })
    .await;
    time("signed-in request: session, viewer, person", |run| {
        let p = person(run);
        let store = &store;
        async move {
            store.session("no-such-session").await.unwrap();
            store.viewer(p).await.unwrap();
            store.person(p).await.unwrap();
        }
    })
    .await;
    // Master data: pickers of the new-ticket forms and the desk's lists.
    time(
        "picker: persons of a business partner, search by name",
        |run| {
            let bp = partner_of(person(run));
            let store = &store;
            async move {
                store.pick_persons(bp, "person 1", 30).await.unwrap();
            }
        },
    )
    .await;
    time(
        "picker: systems of a business partner, the person's first",
        |run| {
            let p = person(run);
            let store = &store;
            async move {
                store
                    .pick_systems(partner_of(p), "", Some(p), true, 30)
                    .await
                    .unwrap();
            }
        },
    )
    .await;
    time("desk: persons by name, first page", |_| {
        let store = &store;
        async move {
            store.list_persons(None, None, 25).await.unwrap();
        }
    })
    .await;
    time("desk: persons, search by name or address", |run| {
        let term = format!("p{}@", (run as i64 * 37) % PERSONS + 1);
        let store = &store;
        async move {
            store.list_persons(Some(&term), None, 25).await.unwrap();
        }
    })
    .await;
    time("desk: business partner page: members, contracts", |run| {
        let bp = partner_of(person(run));
        let store = &store;
        async move {
            store.members_of(bp, 1).await.unwrap();
            store.contracts_of(bp, 1).await.unwrap();
            store.all_systems_of(bp).await.unwrap();
        }
    })
    .await;
}
