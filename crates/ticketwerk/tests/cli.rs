//! The binary from the outside (help, admin commands, their errors) and
//! the demo data set against a real SQLite store.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use ticketwerk::config::{Config, Layer, sqlite_url};
use ticketwerk::demo;
use ticketwerk_domain::access::{Scope, StatusFilter};
use ticketwerk_domain::auth::verify_password;
use ticketwerk_domain::{Email, EntryKind, TicketKind, TicketStatus};
use ticketwerk_storage::{FileStore, SortKey, Store, TicketQuery};

/// The binary with a clean environment: no setting of the machine running
/// the tests leaks in.
fn ticketwerk(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketwerk"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("TICKETWERK_") || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd.env("RUST_LOG", "warn").args(args);
    cmd
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn ok(cmd: &mut Command) -> String {
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "failed: {stdout}\n{stderr}");
    stdout
}

fn fails(cmd: &mut Command) -> String {
    let (out, stdout, stderr) = run(cmd);
    assert!(
        !out.status.success(),
        "should have failed: {stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
    stderr
}

async fn open(dir: &Path) -> Store {
    Store::open(&sqlite_url(&dir.join("ticketwerk.sqlite")).unwrap())
        .await
        .unwrap()
}

#[test]
fn help_and_version() {
    let help = ok(&mut ticketwerk(&["--help"]));
    for word in ["serve", "demo", "admin", "TICKETWERK_"] {
        assert!(help.contains(word), "{word} missing in:\n{help}");
    }
    let version = ok(&mut ticketwerk(&["--version"]));
    assert!(version.contains(env!("CARGO_PKG_VERSION")));
    let demo = ok(&mut ticketwerk(&["demo", "--help"]));
    assert!(demo.contains("--reset") && demo.contains("ticketwerk-demo"));
    let admin = ok(&mut ticketwerk(&["admin", "--help"]));
    for cmd in ["create-agent", "create-business-partner", "create-person"] {
        assert!(admin.contains(cmd), "{cmd} missing in:\n{admin}");
    }
    fails(&mut ticketwerk(&["serve", "--listen", "not-an-address"]));
}

#[tokio::test]
async fn admin_commands_create_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("daten mit leerzeichen");
    let data = dir.to_str().unwrap();

    let out = ok(&mut ticketwerk(&[
        "admin",
        "create-business-partner",
        "--customer-number",
        "K-20001",
        "--name",
        "Bäckerei Schmidt KG",
        "--data-dir",
        data,
    ]));
    assert!(out.contains("K-20001"), "{out}");

    let out = ok(ticketwerk(&[
        "admin",
        "create-person",
        "--email",
        "Greta.Schmidt@Example.com",
        "--name",
        "Greta Schmidt",
        "--business-partner",
        "K-20001",
        "--authorised",
        "--phone",
        "+49 30 5550 123",
        "--language",
        "en",
        "--password-env",
        "GRETAS_PASSWORD",
        "--data-dir",
        data,
    ])
    .env("GRETAS_PASSWORD", "Brötchen-2026!"));
    assert!(
        !out.contains("Password:"),
        "a given password is never printed: {out}"
    );

    let out = ok(&mut ticketwerk(&[
        "admin",
        "create-person",
        "--email",
        "jan.schmidt@example.com",
        "--name",
        "Jan Schmidt",
        "--business-partner",
        "K-20001",
        "--data-dir",
        data,
    ]));
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("Password: "))
        .unwrap_or_else(|| panic!("no generated password in {out}"))
        .to_string();
    assert_eq!(generated.len(), 20);

    let out = ok(&mut ticketwerk(&[
        "admin",
        "create-agent",
        "--email",
        "agent@servicedesk.example.com",
        "--name",
        "Anna Agent",
        "--data-dir",
        data,
    ]));
    assert!(out.contains("Password: "));

    let store = open(&dir).await;
    let partner = store
        .business_partner_by_number("K-20001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(partner.name, "Bäckerei Schmidt KG");

    let greta = store
        .credentials(&Email::parse("greta.schmidt@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(verify_password(
        "Brötchen-2026!",
        greta.password_hash.as_deref().unwrap()
    ));
    assert_eq!(greta.person.language, "en");
    assert_eq!(greta.person.phone, "+49 30 5550 123");
    let viewer = store.viewer(greta.person.id).await.unwrap().unwrap();
    assert!(viewer.is_authorised_for(partner.id) && !viewer.agent);

    let jan = store
        .credentials(&Email::parse("jan.schmidt@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(verify_password(
        &generated,
        jan.password_hash.as_deref().unwrap()
    ));
    let viewer = store.viewer(jan.person.id).await.unwrap().unwrap();
    assert!(viewer.is_member_of(partner.id) && !viewer.is_authorised_for(partner.id));

    let agent = store
        .credentials(&Email::parse("agent@servicedesk.example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(agent.person.agent);
    store.close().await;
}

#[test]
fn admin_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    let partner = |number: &str| {
        ticketwerk(&[
            "admin",
            "create-business-partner",
            "--customer-number",
            number,
            "--name",
            "Firma",
            "--data-dir",
            data,
        ])
    };
    let person = |email: &str, number: &str| {
        ticketwerk(&[
            "admin",
            "create-person",
            "--email",
            email,
            "--name",
            "Eva Klein",
            "--business-partner",
            number,
            "--data-dir",
            data,
        ])
    };
    ok(&mut partner("K-1"));
    let err = fails(&mut partner("K-1"));
    assert!(err.contains("customer number K-1 already exists"), "{err}");

    ok(&mut person("eva.klein@example.com", "K-1"));
    let err = fails(&mut person("EVA.KLEIN@example.com", "K-1"));
    assert!(
        err.contains("eva.klein@example.com already exists"),
        "{err}"
    );

    let err = fails(&mut person("eva.neu@example.com", "K-404"));
    assert!(
        err.contains("no business partner with customer number K-404"),
        "{err}"
    );

    let err = fails(&mut person("not an address", "K-1"));
    assert!(err.contains("not a valid email address"), "{err}");

    let err = fails(
        person("eva.kurz@example.com", "K-1")
            .args(["--password-env", "KURZ"])
            .env("KURZ", "kurz"),
    );
    assert!(err.contains("too short"), "{err}");

    let err = fails(person("eva.ohne@example.com", "K-1").args(["--password-env", "FEHLT"]));
    assert!(err.contains("FEHLT"), "{err}");
}

#[tokio::test]
async fn configuration_file_and_environment_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let from_file = tmp.path().join("aus-datei");
    let from_env = tmp.path().join("aus-umgebung");
    let file = tmp.path().join("ticketwerk.toml");
    std::fs::write(
        &file,
        format!("data_dir = {:?}\n", from_file.to_str().unwrap()),
    )
    .unwrap();
    let args = [
        "admin",
        "create-business-partner",
        "--customer-number",
        "K-7",
        "--name",
        "X",
    ];

    ok(ticketwerk(&args).args(["--config", file.to_str().unwrap()]));
    assert!(from_file.join("ticketwerk.sqlite").exists());

    ok(ticketwerk(&args)
        .env("TICKETWERK_CONFIG", &file)
        .env("TICKETWERK_DATA_DIR", &from_env));
    assert!(from_env.join("ticketwerk.sqlite").exists());

    std::fs::write(&file, "data_dri = \"typo\"\n").unwrap();
    let err = fails(ticketwerk(&args).args(["--config", file.to_str().unwrap()]));
    assert!(err.contains("data_dri"), "{err}");
}

#[tokio::test]
async fn demo_seed_yields_the_promised_data() {
    let tmp = tempfile::tempdir().unwrap();
    let files = FileStore::new(tmp.path().join("attachments"));
    let store = open(tmp.path()).await;
    check_seed(&store, &files).await;
    store.close().await;
}

/// The same on PostgreSQL, and an admin command against it, when
/// `TICKETWERK_TEST_DATABASE_URL` names a server (CI sets it).
#[tokio::test]
async fn demo_seed_and_admin_on_postgres() {
    let Some(db) = TempPostgres::create().await else {
        eprintln!("SKIPPED: demo seed on PostgreSQL: {POSTGRES_URL_VAR} is not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = FileStore::new(tmp.path().join("attachments"));
    let store = Store::open(&db.url).await.unwrap();
    check_seed(&store, &files).await;

    let data = tmp.path().to_str().unwrap();
    let out = ok(&mut ticketwerk(&[
        "admin",
        "create-person",
        "--email",
        "neu@mueller-soehne.example.com",
        "--name",
        "Nora Neumann",
        "--business-partner",
        demo::PARTNERS[0],
        "--database",
        &db.url,
        "--data-dir",
        data,
    ]));
    assert!(out.contains("Password: "), "{out}");
    let email = Email::parse("neu@mueller-soehne.example.com").unwrap();
    assert!(store.credentials(&email).await.unwrap().is_some());
    assert!(
        !tmp.path().join("ticketwerk.sqlite").exists(),
        "--database wins over the data dir"
    );
    store.close().await;
    db.drop_database().await;
}

/// Checks everything the demo promises on a store `demo::seed` has not
/// seen yet.
async fn check_seed(store: &Store, files: &FileStore) {
    let logins = demo::seed(store, files, 1_780_000_000).await.unwrap();

    // Two business partners with the promised customer numbers.
    let mut partners = Vec::new();
    for number in demo::PARTNERS {
        partners.push(
            store
                .business_partner_by_number(number)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(partners[0].name.contains("Müller"));

    // Every printed sign-in works, and the roles are all there.
    assert!(logins.len() >= 5);
    let mut agents = 0;
    for login in &logins {
        let email = Email::parse(&login.email).unwrap();
        assert!(login.email.ends_with("example.com"), "{}", login.email);
        let creds = store.credentials(&email).await.unwrap().unwrap();
        assert!(verify_password(
            &login.password,
            creds.password_hash.as_deref().unwrap()
        ));
        assert_eq!(creds.person.agent, login.agent);
        agents += usize::from(login.agent);
    }
    assert_eq!(agents, 1);

    // The multi-partner person belongs to both, authorised in one only.
    let markus = store
        .credentials(&Email::parse(demo::MULTI_PARTNER_EMAIL).unwrap())
        .await
        .unwrap()
        .unwrap();
    let viewer = store.viewer(markus.person.id).await.unwrap().unwrap();
    assert!(viewer.is_member_of(partners[0].id) && viewer.is_member_of(partners[1].id));
    assert!(!viewer.is_authorised_for(partners[0].id) && viewer.is_authorised_for(partners[1].id));

    // A person whose authorisation ended a week ago: authorised then,
    // an end user now; the contract still lists her, with the end date.
    let petra = logins.iter().find(|l| l.role.contains("ended")).unwrap();
    let petra = store
        .credentials(&Email::parse(&petra.email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let then = store
        .viewer_at(petra.person.id, 1_780_000_000 - 8 * 86_400)
        .await
        .unwrap()
        .unwrap();
    let now = store
        .viewer_at(petra.person.id, 1_780_000_000)
        .await
        .unwrap()
        .unwrap();
    assert!(then.is_authorised_for(partners[0].id));
    assert!(now.is_member_of(partners[0].id) && !now.is_authorised_for(partners[0].id));
    let contracts = store
        .contracts_of(partners[0].id, 1_780_000_000)
        .await
        .unwrap();
    assert_eq!(contracts.len(), 1);
    assert!(contracts[0].in_force);
    let named: Vec<_> = contracts[0]
        .authorisations
        .iter()
        .map(|a| (a.person_name.as_str(), a.in_force))
        .collect();
    assert!(named.contains(&("Petra Lang", false)) && named.contains(&("Sabine Krause", true)));

    // Each partner: an authorised person, a plain end user, services with
    // real descriptions and systems with inventory numbers.
    for p in &partners {
        let services = store.services_of(p.id).await.unwrap();
        assert!(services.len() >= 2);
        assert!(
            services.iter().all(|s| s.description.len() > 200),
            "{services:?}"
        );
        let systems = store.systems_of(p.id).await.unwrap();
        assert!(systems.len() >= 4);
        assert!(systems.iter().all(|s| !s.inventory_number.is_empty()));
    }
    let mut authorised = HashSet::new();
    let mut plain = HashSet::new();
    for login in logins.iter().filter(|l| !l.agent) {
        let creds = store
            .credentials(&Email::parse(&login.email).unwrap())
            .await
            .unwrap();
        let viewer = store
            .viewer(creds.unwrap().person.id)
            .await
            .unwrap()
            .unwrap();
        for m in viewer.memberships {
            let set = if m.authorised {
                &mut authorised
            } else {
                &mut plain
            };
            set.insert(m.business_partner);
        }
    }
    assert!(authorised.contains(&partners[0].id));
    assert!(plain.contains(&partners[0].id) && plain.contains(&partners[1].id));

    // Tickets in every status and of every kind, with the promised entries.
    let mut tickets = Vec::new();
    for status in [StatusFilter::Open, StatusFilter::Closed] {
        let page = store
            .list_tickets(&TicketQuery {
                columns: Default::default(),
                scope: Scope::All,
                status,
                sort: SortKey::Updated,
                descending: true,
                search: None,
                after: None,
                limit: 100,
            })
            .await
            .unwrap();
        tickets.extend(page.items);
    }
    let statuses: HashSet<_> = tickets.iter().map(|t| t.status).collect();
    for status in TicketStatus::ALL {
        assert!(statuses.contains(status), "no ticket is {status}");
    }
    let kinds: HashSet<_> = tickets.iter().map(|t| t.kind).collect();
    for kind in TicketKind::ALL {
        assert!(kinds.contains(kind), "no ticket is a {kind}");
    }
    let mut entry_kinds = HashSet::new();
    let mut attachments = 0;
    for t in &tickets {
        let full = store.ticket_by_number(&t.number).await.unwrap().unwrap();
        let entries = store.entries(full.id, EntryKind::ALL).await.unwrap();
        entry_kinds.extend(entries.iter().map(|e| e.kind));
        if full.status == TicketStatus::WaitingForCustomer {
            assert!(entries.iter().any(|e| e.kind == EntryKind::DeskQuestion));
        }
        if matches!(full.status, TicketStatus::Solved) {
            assert!(entries.iter().any(|e| e.kind == EntryKind::Solution));
        }
        for a in store.attachments(full.id, EntryKind::ALL).await.unwrap() {
            assert_eq!(
                files.get(&a.storage_key).await.unwrap().len() as i64,
                a.size
            );
            attachments += 1;
        }
    }
    for kind in [
        EntryKind::CustomerNote,
        EntryKind::InternalNote,
        EntryKind::Solution,
    ] {
        assert!(entry_kinds.contains(&kind), "no {kind} entry");
    }
    assert!(attachments >= 1);

    // Seeding twice is refused rather than doubling the data.
    assert!(demo::seed(store, files, 1_780_000_000).await.is_err());
}

/// The variable that names a PostgreSQL server to test against as well.
const POSTGRES_URL_VAR: &str = "TICKETWERK_TEST_DATABASE_URL";

/// A database of its own on the PostgreSQL server, for one test.
struct TempPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl TempPostgres {
    async fn create() -> Option<Self> {
        use sqlx::{Connection, Executor};
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        let admin_url = admin_url.trim().to_string();
        let name = format!("tw_cli_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        // Same server and options, another database name.
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base.to_string(), format!("?{query}")),
            None => (admin_url.clone(), String::new()),
        };
        let authority = base.find("://").map_or(0, |i| i + 3);
        let server = match base[authority..].find('/') {
            Some(slash) => &base[..authority + slash],
            None => &base,
        };
        let url = format!("{server}/{name}{query}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    async fn drop_database(self) {
        use sqlx::{Connection, Executor};
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin.execute(sql.as_str()).await.unwrap();
        admin.close().await.unwrap();
    }
}

#[test]
fn demo_never_touches_foreign_directories() {
    use ticketwerk::cli::{DEMO_MARKER, prepare_demo_dir};
    let tmp = tempfile::tempdir().unwrap();

    let foreign = tmp.path().join("echt");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("ticketwerk.sqlite"), "real data").unwrap();
    assert!(prepare_demo_dir(&foreign, true).is_err());
    assert!(foreign.join("ticketwerk.sqlite").exists());

    let fresh = tmp.path().join("demo");
    prepare_demo_dir(&fresh, false).unwrap();
    assert!(fresh.join(DEMO_MARKER).exists());
    std::fs::write(fresh.join("ticketwerk.sqlite"), "old demo").unwrap();
    std::fs::create_dir_all(fresh.join("attachments/ab")).unwrap();
    assert!(prepare_demo_dir(&fresh, false).is_err());
    prepare_demo_dir(&fresh, true).unwrap();
    assert!(!fresh.join("ticketwerk.sqlite").exists());
    assert!(!fresh.join("attachments").exists());
}

#[tokio::test]
async fn started_server_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = Layer {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(tmp.path().to_path_buf()),
        ..Layer::default()
    };
    let config = Config::resolve(layer).unwrap();
    let (server, store, _files) = ticketwerk::start(&config).await.unwrap();
    let response = reqwest::get(server.url()).await.unwrap();
    assert!(response.status().as_u16() < 500, "{}", response.status());
    server.handle.abort();
    store.close().await;
}

#[tokio::test]
async fn import_checks_every_row_and_writes_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    ok(&mut ticketwerk(&[
        "admin",
        "create-business-partner",
        "--customer-number",
        "K-30001",
        "--name",
        "Kanzlei Brandt",
        "--data-dir",
        data,
    ]));
    let file = tmp.path().join("personen.csv");
    std::fs::write(
        &file,
        "Kundennummer;Name;E-Mail;Sprache;Abteilung\n\
         K-30001;Jana Brandt;jana@brandt.example;de;Sekretariat\n\
         K-30002;Falsch Partner;falsch@brandt.example;de;\n\
         K-30001;Ohne Adresse;;en;\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec!["admin", "import", "persons", path, "--data-dir", data];
        args.extend_from_slice(extra);
        ticketwerk(&args)
    };
    let (out, stdout, stderr) = run(&mut import(&["--dry-run"]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "line 3, customer_number: There is no business partner with this customer number."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 4, email: Please fill in this field."),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 of 3 rows refused; nothing was written"),
        "{stderr}"
    );

    std::fs::write(
        &file,
        "Kundennummer;Name;E-Mail;Sprache;Abteilung\n\
         K-30001;Jana Brandt;jana@brandt.example;de;Sekretariat\n",
    )
    .unwrap();
    let out = ok(&mut import(&["--dry-run"]));
    assert!(
        out.contains("Dry run: all 1 rows are fine; 1 persons would be created."),
        "{out}"
    );
    let store = open(tmp.path()).await;
    let jana = Email::parse("jana@brandt.example").unwrap();
    assert!(
        store.credentials(&jana).await.unwrap().is_none(),
        "a dry run writes nothing"
    );
    store.close().await;

    let out = ok(&mut import(&[]));
    assert!(out.contains("Imported 1 persons from 1 rows."), "{out}");
    let store = open(tmp.path()).await;
    let created = store.credentials(&jana).await.unwrap().unwrap();
    let bp = store
        .business_partner_by_number("K-30001")
        .await
        .unwrap()
        .unwrap();
    let members = store.members_of(bp.id, 0).await.unwrap();
    assert_eq!(members[0].person.id, created.person.id);
    assert_eq!(members[0].unit_name.as_deref(), Some("Sekretariat"));
    store.close().await;
}

/// Pipes `input` into `ticketwerk mail receive` as an MTA does; returns the
/// exit code and stderr.
fn receive(data: &str, input: &[u8], extra: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = ticketwerk(&["mail", "receive", "--data-dir", data]);
    for (name, value) in extra {
        cmd.env(name, value);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_pipe_door_answers_the_mta_with_sysexits_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    ok(&mut ticketwerk(&[
        "admin",
        "create-business-partner",
        "--customer-number",
        "K-1",
        "--name",
        "Acme",
        "--data-dir",
        data,
    ]));
    ok(ticketwerk(&[
        "admin",
        "create-person",
        "--email",
        "ben@acme.example",
        "--name",
        "Ben Cole",
        "--business-partner",
        "K-1",
        "--password-env",
        "PW",
        "--data-dir",
        data,
    ])
    .env("PW", "Kennwort-2026!"));
    let mail = b"From: ben@acme.example\r\nTo: office@example.com\r\nSubject: Drucker\r\n\
        Message-ID: <pipe-1@acme.example>\r\n\r\nDer Drucker druckt nicht.\r\n";

    // A mistyped data directory: the MTA keeps the mail, and no stray
    // database appears where no portal reads it.
    let typo = tmp.path().join("typo");
    let (code, stderr) = receive(typo.to_str().unwrap(), mail, &[]);
    assert_eq!(code, Some(75), "{stderr}");
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!typo.join("ticketwerk.sqlite").exists());

    // The configuration of a server with an identity provider whose
    // secret the MTA's pipe does not have: mail still comes in, and the
    // answer carries no terminal colours into a bounce.
    let file = tmp.path().join("ticketwerk.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {data:?}\n[[identity_providers]]\nname = \"entra\"\nkind = \"entra\"\n\
             issuer = \"https://login.microsoftonline.com/organizations/v2.0\"\n\
             client_id = \"app\"\nallowed_tenants = [\"t1\"]\n"
        ),
    )
    .unwrap();
    let server = fails(&mut ticketwerk(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
    ]));
    assert!(
        server.contains("TICKETWERK_OIDC_ENTRA_CLIENT_SECRET"),
        "{server}"
    );
    {
        use std::io::Write;
        let mut child = ticketwerk(&["mail", "receive", "--config", file.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(mail).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "colours in {stderr:?}");
    }

    let (code, stderr) = receive(data, mail, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = receive(data, mail, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("delivered before"), "{stderr}");
    // Not a mail at all: held for the desk, so the MTA is done with it.
    assert_eq!(receive(data, b"\x00\x01garbage", &[]).0, Some(0));

    let store = open(tmp.path()).await;
    assert_eq!(store.held_mails(None, 10).await.unwrap().items.len(), 1);
    let ben = store
        .viewer_by_email(
            &Email::parse("ben@acme.example").unwrap(),
            ticketwerk::now(),
        )
        .await
        .unwrap()
        .unwrap()
        .0;
    let (scope, status) = ben
        .catalog(ticketwerk_domain::Catalog::MyOpen, None)
        .unwrap();
    let q = TicketQuery {
        scope,
        status,
        sort: SortKey::Number,
        descending: false,
        search: None,
        columns: Default::default(),
        after: None,
        limit: 10,
    };
    let mine = store.list_tickets(&q).await.unwrap().items;
    assert_eq!(mine.len(), 1, "one call, however often it was piped");
    assert_eq!(mine[0].short_text, "Drucker");
    store.close().await;

    // Larger than twice the limit: never taken, the MTA bounces it.
    let big = [mail.as_slice(), &[b'x'; 400]].concat();
    let (code, stderr) = receive(data, &big, &[("TICKETWERK_MAIL_MAX_BYTES", "150")]);
    assert_eq!(code, Some(65), "{stderr}");
    // The database does not answer: the MTA keeps the mail and retries.
    let unreachable = [("TICKETWERK_DATABASE_URL", "postgres://tw@127.0.0.1:1/none")];
    let (code, stderr) = receive(data, mail, &unreachable);
    assert_eq!(code, Some(75), "{stderr}");
}
