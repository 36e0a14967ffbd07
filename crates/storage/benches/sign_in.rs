//! How fast are the queries of sign-in and of the security log when the
//! log holds a million lines? Seeds the persons of the list benchmark, a
//! million audit lines, one external identity and one passkey per person,
//! then times what the sign-in pages and the desk's security log ask.
//!
//! `cargo bench -p ticketwerk-storage --bench sign_in`; with
//! `TICKETWERK_BENCH_DATABASE_URL=postgres://…` on PostgreSQL (an empty
//! database); `BENCH_TICKETS=N` seeds fewer tickets beside.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use sqlx::Executor;
use ticketwerk_storage::OidcFlow;

mod common;
use common::{PERSONS, seeded, series, time};

const AUDIT_LINES: i64 = 1_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = seeded().await;
    let (store, pool) = (db.store.clone(), db.pool.clone());
    let started = Instant::now();
    let from = |n| series(db.postgres, n);
    for sql in [
        format!(
            "INSERT INTO audit_log (at, person_id, event, detail) \
             SELECT 1767225600 + i, (i % {PERSONS}) + 1, \
             CASE WHEN i % 7 = 0 THEN 'sign_in_failed' ELSE 'sign_in' END, '' {}",
            from(AUDIT_LINES)
        ),
        format!(
            "INSERT INTO external_identities (person_id, provider, subject, label, linked_at) \
             SELECT i, 'entra', 'tenant/' || i, '', 1767225600 {}",
            from(PERSONS)
        ),
        format!(
            "INSERT INTO passkeys (person_id, name, credential_id, credential, created_at) \
             SELECT i, 'Laptop', 'cred-' || i, '{{}}', 1767225600 {}",
            from(PERSONS)
        ),
    ] {
        pool.execute(sql.as_str()).await.unwrap();
    }
    pool.execute("ANALYZE").await.unwrap();
    println!(
        "seeded {AUDIT_LINES} audit lines, {PERSONS} identities and passkeys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("| {:<52} | {:>8} | {:>8} |", "query", "median ms", "p99 ms");
    println!("|{:-<54}|{:-<10}|{:-<10}|", "", "", "");

    let person = |run: usize| (run as i64 * 37) % PERSONS + 1;
    time("security log: newest 50 lines", |_| {
        let store = &store;
        async move {
            store.audit_page(None, None, 51).await.unwrap();
        }
    })
    .await;
    time("security log: 50 lines deep in the past (keyset)", |run| {
        let store = &store;
        let before = AUDIT_LINES - (run as i64 * 3001) % AUDIT_LINES;
        async move {
            store.audit_page(None, Some(before), 51).await.unwrap();
        }
    })
    .await;
    time("security log of one person", |run| {
        let store = &store;
        let p = person(run);
        async move {
            store.audit_page(Some(p), None, 51).await.unwrap();
        }
    })
    .await;
    time("sign-in: the person of an external identity", |run| {
        let store = &store;
        let subject = format!("tenant/{}", person(run));
        async move {
            store
                .use_identity("entra", &subject, "", 1_767_300_000)
                .await
                .unwrap()
                .unwrap();
        }
    })
    .await;
    time("second step: the person's passkeys", |run| {
        let store = &store;
        let p = person(run);
        async move {
            store.passkeys_of(p).await.unwrap();
        }
    })
    .await;
    time("OIDC flow: stored at the start, taken at callback", |run| {
        let store = &store;
        let state = format!("state-{run}");
        async move {
            let flow = OidcFlow {
                provider: "entra".into(),
                nonce: "n".into(),
                pkce_verifier: "v".into(),
                link_person: None,
                created_at: 1_767_300_000,
            };
            store
                .create_oidc_flow(&state, "browser", &flow)
                .await
                .unwrap();
            store
                .take_oidc_flow(&state, "browser", 1_767_200_000)
                .await
                .unwrap()
                .unwrap();
        }
    })
    .await;
}
