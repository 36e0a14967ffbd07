//! Runs each conformance test on every available database and builds the
//! small world of business partners and persons the tests talk about.

use std::future::Future;
use std::io::Write;
use std::sync::Once;

use sqlx::{Connection, Executor, PgConnection};
use ticketwerk_domain::model::NewTicket;
use ticketwerk_domain::{Email, Id, Impact, TicketType, Timestamp, Urgency};
use ticketwerk_storage::{Backend, NewPerson, Store};

/// The variable that names a PostgreSQL server to test against as well.
pub const POSTGRES_URL_VAR: &str = "TICKETWERK_TEST_DATABASE_URL";

/// 2026-01-01 00:00:00 UTC. Every test passes time explicitly.
pub const T0: Timestamp = 1_767_225_600;
pub const YEAR: i32 = 2026;

/// Runs `test` on a fresh SQLite database, and then on a fresh PostgreSQL
/// database when `TICKETWERK_TEST_DATABASE_URL` is set.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ticketwerk.db").display()
    );
    run_on(Store::open(&url).await.expect("opening SQLite"), &test).await;

    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => {
            let db = TempPostgres::create(url.trim()).await;
            let store = Store::open(&db.url).await.expect("opening PostgreSQL");
            run_on(store, &test).await;
            db.drop_database().await;
        }
        _ => {
            static SKIPPED: Once = Once::new();
            SKIPPED.call_once(|| {
                // Straight to stderr, past the test harness's capture, so the
                // notice shows in every run and not only when a test fails.
                let _ = writeln!(
                    std::io::stderr(),
                    "NOTE: {POSTGRES_URL_VAR} is not set; the conformance tests ran on \
                     SQLite only, the PostgreSQL run was SKIPPED."
                );
            });
        }
    }
}

async fn run_on<F, Fut>(store: Store, test: &F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    assert!(store.ping().await, "{:?} answers", store.backend());
    let blame = Blame(store.backend());
    test(store.clone()).await;
    drop(blame);
    store.close().await;
}

/// Names the backend in the output of a failing test.
struct Blame(Backend);

impl Drop for Blame {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("^^^ this test failed on {:?}", self.0);
        }
    }
}

/// A database of its own on the PostgreSQL server, for one test.
struct TempPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl TempPostgres {
    async fn create(admin_url: &str) -> Self {
        let name = format!("tw_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("CREATE DATABASE");
        admin.close().await.expect("closing the admin connection");
        let url = with_database(admin_url, &name);
        Self {
            admin_url: admin_url.to_string(),
            name,
            url,
        }
    }

    async fn drop_database(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("reconnecting");
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin.execute(sql.as_str()).await.expect("DROP DATABASE");
        admin.close().await.expect("closing the admin connection");
    }
}

/// `postgres://user@host:port/db?opts` with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

pub fn new_person(email: &str, name: &str, agent: bool) -> NewPerson {
    NewPerson {
        email: Email::parse(email).expect("a valid email"),
        name: name.to_string(),
        phone: String::new(),
        language: "de".to_string(),
        agent,
        password_hash: None,
    }
}

/// A plain report by `by` for `reported_for`, without service or system.
pub fn report(business_partner: Id, by: Id, reported_for: Id, short_text: &str) -> NewTicket {
    NewTicket {
        business_partner_id: business_partner,
        reported_by: by,
        reported_for,
        reference: String::new(),
        short_text: short_text.to_string(),
        description: "Details follow.".to_string(),
        impact: Impact::Person,
        urgency: Urgency::Restricted,
        ticket_type: TicketType::Incident,
        service_id: None,
        system_id: None,
    }
}

/// Two customers and the desk:
/// - Acme: Anna (authorised), Ben and Carl (plain members);
/// - Globex: Olga (authorised);
/// - Dora at the desk (agent, no memberships).
#[derive(Clone, Copy, Debug)]
pub struct World {
    pub acme: Id,
    pub globex: Id,
    pub anna: Id,
    pub ben: Id,
    pub carl: Id,
    pub olga: Id,
    pub dora: Id,
}

impl World {
    pub async fn create(store: &Store) -> Self {
        let acme = store
            .create_business_partner("10001", "Acme GmbH", T0)
            .await
            .unwrap();
        let globex = store
            .create_business_partner("10002", "Globex AG", T0)
            .await
            .unwrap();
        let person = |email: &'static str, name: &'static str, agent: bool| async move {
            store
                .create_person(&new_person(email, name, agent), T0)
                .await
                .unwrap()
        };
        let anna = person("anna@acme.example", "Anna Berg", false).await;
        let ben = person("ben@acme.example", "Ben Cole", false).await;
        let carl = person("carl@acme.example", "Carl Dorn", false).await;
        let olga = person("olga@globex.example", "Olga Frey", false).await;
        let dora = person("dora@desk.example", "Dora Desk", true).await;
        store.add_membership(anna, acme, true).await.unwrap();
        store.add_membership(ben, acme, false).await.unwrap();
        store.add_membership(carl, acme, false).await.unwrap();
        store.add_membership(olga, globex, true).await.unwrap();
        Self {
            acme,
            globex,
            anna,
            ben,
            carl,
            olga,
            dora,
        }
    }
}

#[test]
fn database_names_are_replaced() {
    let name = "tw_1";
    assert_eq!(
        with_database("postgres://p@h:5432/test", name),
        "postgres://p@h:5432/tw_1"
    );
    assert_eq!(
        with_database("postgres://p@h/test?sslmode=disable", name),
        "postgres://p@h/tw_1?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h", name), "postgresql://h/tw_1");
}
