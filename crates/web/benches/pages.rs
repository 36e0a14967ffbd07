//! Whole pages, over HTTP, at a million tickets: the real server with its
//! sessions, access rules, queries and templates, asked by a client on
//! loopback. Prints median and p99 of each page.
//!
//! `cargo bench -p ticketwerk-web --bench pages` uses SQLite in a temp
//! folder; `TICKETWERK_BENCH_DATABASE_URL=postgres://…` an empty PostgreSQL
//! database; `BENCH_TICKETS=N` another size.
#![allow(clippy::unwrap_used)]

use ticketwerk_domain::Email;
use ticketwerk_domain::auth::{hash_token, new_token};
use ticketwerk_storage::{FileStore, NewPerson, SessionStage, Store};
use ticketwerk_web::{App, Settings};

#[path = "../../storage/benches/common/mod.rs"]
mod common;
use common::{PERSONS, seeded, series, time};

/// A signed-in session for a person, as sign-in leaves it; the page
/// timings start after sign-in.
async fn session(store: &Store, person: i64, now: i64) -> String {
    let token = new_token();
    store
        .create_session(
            &hash_token(&token),
            person,
            SessionStage::Full,
            &new_token(),
            now,
        )
        .await
        .unwrap();
    format!("tw_session={token}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Kept whole to the end: it holds the database's folder.
    let db = seeded().await;
    let (store, tickets) = (db.store.clone(), db.tickets);
    // A million lines of the security log, for its page and the
    // person's security page.
    let audit = format!(
        "INSERT INTO audit_log (at, person_id, event, detail) \
         SELECT 1767225600 + i, (i % {PERSONS}) + 1, 'sign_in', '' {}",
        series(db.postgres, 1_000_000)
    );
    sqlx::Executor::execute(&db.pool, audit.as_str())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().as_second();
    let agent = NewPerson {
        email: Email::parse("desk@bench.example").unwrap(),
        name: "Dana Desk".into(),
        phone: String::new(),
        language: "de".into(),
        agent: true,
        password_hash: None,
    };
    let agent = store.create_person(&agent, now).await.unwrap();

    let settings = Settings {
        insecure_cookies: true,
        ..Settings::default()
    };
    let app = App::new(
        store.clone(),
        FileStore::new(dir.path().join("files")),
        settings,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { ticketwerk_web::serve(listener, app).await.unwrap() });

    // Seeded person 1 belongs to partner 1; every PERSONS-th ticket is theirs.
    let customer = session(&store, 1, now).await;
    let desk = session(&store, agent, now).await;
    let own_ticket = format!("2026-{:07}", PERSONS);
    let any_ticket = format!("2026-{:07}", tickets / 2 + 1);
    let client = reqwest::Client::new();

    println!(
        "| {:<52} | {:>8} | {:>8} |",
        "page (HTTP GET, 25 rows a list)", "median ms", "p99 ms"
    );
    println!("|{:-<54}|{:-<10}|{:-<10}|", "", "", "");
    let pages = [
        ("customer: home", customer.clone(), "/".to_string()),
        (
            "customer: my open tickets",
            customer.clone(),
            "/catalog/my-open".to_string(),
        ),
        (
            "customer: my closed tickets",
            customer.clone(),
            "/catalog/my-closed".to_string(),
        ),
        (
            "customer: my open tickets, quick search",
            customer.clone(),
            "/catalog/my-open?q=nummer".to_string(),
        ),
        (
            "customer: ticket view",
            customer.clone(),
            format!("/tickets/{own_ticket}"),
        ),
        (
            "authorised: business partner's open tickets",
            customer.clone(),
            "/catalog/partner-open".to_string(),
        ),
        (
            "authorised: new ticket for someone (form)",
            customer.clone(),
            "/tickets/new-for-someone".to_string(),
        ),
        (
            "authorised: person picker, search",
            customer.clone(),
            "/pickers/persons?mode=someone&bp=1&q=person%201".to_string(),
        ),
        (
            "customer: my services",
            customer.clone(),
            "/services".to_string(),
        ),
        (
            "desk: open tickets",
            desk.clone(),
            "/catalog/desk-open".to_string(),
        ),
        (
            "desk: open tickets by priority",
            desk.clone(),
            "/catalog/desk-open?sort=priority&dir=asc".to_string(),
        ),
        (
            "desk: new calls",
            desk.clone(),
            "/catalog/desk-new".to_string(),
        ),
        (
            "desk: quick search for a ticket number",
            desk.clone(),
            format!("/catalog/desk-open?q={any_ticket}"),
        ),
        (
            "desk: quick search, rare term",
            desk.clone(),
            "/catalog/desk-closed?q=nummer%204711".to_string(),
        ),
        (
            "desk: ticket view",
            desk.clone(),
            format!("/tickets/{any_ticket}"),
        ),
        (
            "customer: security page",
            customer.clone(),
            "/account/security".to_string(),
        ),
        (
            "desk: security log (1M lines)",
            desk.clone(),
            "/desk/audit".to_string(),
        ),
        (
            "desk: security log of one person",
            desk.clone(),
            "/desk/audit?person=1".to_string(),
        ),
    ];
    for (label, cookie, path) in pages {
        time(label, |_| {
            let request = client
                .get(format!("{base}{path}"))
                .header("Cookie", cookie.clone());
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 200, "{label}");
                response.bytes().await.unwrap();
            }
        })
        .await;
    }
}
