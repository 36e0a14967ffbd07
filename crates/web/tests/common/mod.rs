//! The test harness: a real Ticketwerk server on a free loopback port with
//! a fresh database, and a client that signs in like a person does.
#![allow(dead_code, clippy::unwrap_used)]

pub mod oidc;

use std::net::SocketAddr;

use ticketwerk_domain::auth::{TotpSecret, hash_password};
use ticketwerk_domain::{Email, Id};
use ticketwerk_storage::{FileStore, NewPerson, Store};
use ticketwerk_web::{App, Settings};

pub const PASSWORD: &str = "Sicheres-Passwort-42";

pub struct TestApp {
    pub base: String,
    /// The SQLite file, when the test runs on SQLite.
    pub database_path: std::path::PathBuf,
    pub addr: SocketAddr,
    pub store: Store,
    pub files: FileStore,
    _dir: tempfile::TempDir,
}

/// The PostgreSQL server to test against, when one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("TICKETWERK_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty PostgreSQL database on the configured server.
pub async fn fresh_postgres(base_url: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "tw_web_{}",
        &ticketwerk_domain::auth::hash_token(&ticketwerk_domain::auth::new_token())[..16]
    );
    let mut conn = sqlx::PgConnection::connect(base_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = base_url.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

pub async fn spawn() -> TestApp {
    spawn_with(None, Settings::default()).await
}

/// Starts the server on SQLite, or on the given database URL.
pub async fn spawn_with(database: Option<String>, settings: Settings) -> TestApp {
    spawn_on(None, database, settings).await
}

/// Starts the server on a listener bound before, for settings that must
/// know the server's address (an identity provider's callback).
pub async fn spawn_on(
    listener: Option<tokio::net::TcpListener>,
    database: Option<String>,
    settings: Settings,
) -> TestApp {
    // Server logs show with a failing test's output; RUST_LOG filters them.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    ticketwerk_mailroom::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = database.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("ticketwerk.sqlite").display()
        )
    });
    let store = Store::open(&url).await.unwrap();
    let files = FileStore::new(dir.path().join("attachments"));
    let settings = Settings {
        insecure_cookies: true,
        ..settings
    };
    let app = App::new(store.clone(), files.clone(), settings).unwrap();
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { ticketwerk_web::serve(listener, app).await.unwrap() });
    TestApp {
        base: format!("http://{addr}"),
        addr,
        store,
        files,
        database_path: dir.path().join("ticketwerk.sqlite"),
        _dir: dir,
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TestApp {
    /// Delivers a raw mail as the MTA pipe door does; the id of the
    /// newest mail stored.
    pub async fn deliver_mail(&self, raw: &str) -> Id {
        let settings = Settings::default().mail;
        let ingest = ticketwerk_mailroom::ingest::Ingest::new(
            self.store.clone(),
            self.files.clone(),
            settings,
        );
        ingest.ingest(raw.as_bytes(), now()).await.unwrap();
        let mine = self.store.held_mails(None, 1).await.unwrap().items;
        mine.first().map_or(0, |m| m.id)
    }

    pub async fn business_partner(&self, number: &str, name: &str) -> Id {
        self.store
            .create_business_partner(number, name, now())
            .await
            .unwrap()
    }

    pub async fn person(&self, email: &str, name: &str, agent: bool) -> Id {
        let new = NewPerson {
            email: Email::parse(email).unwrap(),
            name: name.into(),
            phone: String::new(),
            language: "de".into(),
            agent,
            password_hash: Some(hash_password(PASSWORD).unwrap()),
        };
        self.store.create_person(&new, now()).await.unwrap()
    }

    /// A customer who belongs to one business partner.
    pub async fn customer(&self, email: &str, name: &str, bp: Id) -> Id {
        let id = self.person(email, name, false).await;
        self.store.add_membership(id, bp, false).await.unwrap();
        id
    }

    pub async fn agent(&self, email: &str, name: &str) -> Id {
        self.person(email, name, true).await
    }

    pub fn client(&self) -> Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        let raw = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client {
            http,
            raw,
            base: self.base.clone(),
            secret: None,
        }
    }
}

/// A browser-like client with a cookie jar.
pub struct Client {
    pub http: reqwest::Client,
    /// The same session, without following redirects: to see where a
    /// response sends the browser.
    pub raw: reqwest::Client,
    pub base: String,
    /// The TOTP secret, once enrolled.
    pub secret: Option<TotpSecret>,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub url: String,
    pub body: String,
}

impl Page {
    /// The value of the first hidden `csrf` field of the page.
    pub fn csrf(&self) -> String {
        field_value(&self.body, "csrf").expect("page has a csrf field")
    }

    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

/// The `value` of the first input named `name`.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The text inside the element with this id.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].trim().to_string())
}

impl Client {
    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        page(r).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        page(r).await
    }

    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        page(r).await
    }

    /// Email and password; lands on the enrolment or the code page.
    pub async fn password(&self, email: &str, password: &str) -> Page {
        let login = self.get("/login").await;
        let csrf = field_value(&login.body, "csrf").unwrap();
        self.post(
            "/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// First sign-in: password, enrol TOTP from the page's secret, confirm.
    /// Returns the recovery-codes page.
    pub async fn enrol(&mut self, email: &str) -> Page {
        self.enrol_with(email, PASSWORD).await
    }

    /// First sign-in with a given password, such as an initial one.
    pub async fn enrol_with(&mut self, email: &str, password: &str) -> Page {
        let page = self.password(email, password).await;
        assert!(
            page.url.ends_with("/login/enrol"),
            "expected enrolment, got {}",
            page.url
        );
        let secret_text = element_text(&page.body, "totp-secret")
            .unwrap()
            .replace(' ', "");
        let secret = TotpSecret::from_base32(&secret_text).unwrap();
        let code = secret.code_at(now());
        let done = self
            .post("/login/enrol", &[("code", &code), ("csrf", &page.csrf())])
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        self.secret = Some(secret);
        done
    }

    /// A later sign-in with a code of the next time step, so that it never
    /// collides with a code already used in this step.
    pub async fn sign_in_again(&self, email: &str) -> Page {
        let page = self.password(email, PASSWORD).await;
        let code = self.secret.as_ref().unwrap().code_at(now() + 30);
        self.post(
            "/login/second-factor",
            &[("code", &code), ("csrf", &page.csrf())],
        )
        .await
    }

    /// The CSRF token of the signed-in session, from the home page.
    pub async fn csrf(&self) -> String {
        self.get("/").await.csrf()
    }

    /// Creates a ticket for oneself with the required fields and files.
    pub async fn create_ticket(&self, short_text: &str, files: &[(&str, &[u8])]) -> Page {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf().await)
            .text("short_text", short_text.to_string())
            .text(
                "description",
                format!("{short_text}: ausführliche Beschreibung"),
            )
            .text("impact", "person")
            .text("urgency", "restricted")
            .text("ticket_type", "incident")
            .text("reference", "REF-4711");
        for (name, bytes) in files {
            let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name(name.to_string())
                .mime_str("text/plain")
                .unwrap();
            form = form.part("files", part);
        }
        self.post_multipart("/tickets/new", form).await
    }

    /// Adds an entry of a kind to a ticket.
    pub async fn add_entry(&self, number: &str, kind: &str, body: &str) -> Page {
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf().await)
            .text("kind", kind.to_string())
            .text("body", body.to_string());
        self.post_multipart(&format!("/tickets/{number}/entries"), form)
            .await
    }
}

async fn page(r: reqwest::Response) -> Page {
    let status = r.status().as_u16();
    let url = r.url().to_string();
    let body = r.text().await.unwrap();
    Page { status, url, body }
}

/// The ticket number shown on a ticket page.
pub fn ticket_number(page: &Page) -> String {
    element_text(&page.body, "ticket-number").expect("a ticket page")
}

/// An absolute URL from a redirect's `Location`, against `base`.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(|l| absolute(r.url().as_str(), l))
}

impl Client {
    /// Starts a sign-in at a provider from the sign-in page: the URL the
    /// portal sends the browser to, or the page it answered instead.
    pub async fn oidc_start(&self, provider: &str) -> Result<String, Page> {
        let login = self.get("/login").await;
        let csrf = field_value(&login.body, "csrf").unwrap();
        let r = self
            .raw
            .post(format!("{}/login/oidc/{provider}", self.base))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        match location(&r) {
            Some(url) => Ok(url),
            None => Err(page(r).await),
        }
    }

    /// Signs in at the provider as `account` (with a second factor or
    /// not), from `url` on, until the provider sends the browser back:
    /// the callback URL, not yet visited.
    pub async fn at_provider(&self, mut url: String, account: &str, mfa: bool) -> String {
        for _ in 0..10 {
            if url.starts_with(&self.base) {
                return url;
            }
            let r = self.raw.get(&url).send().await.unwrap();
            if let Some(next) = location(&r) {
                url = next;
                continue;
            }
            assert_eq!(r.status(), 200, "the provider at {url}");
            let at = r.url().to_string();
            let body = r.text().await.unwrap();
            let action = body
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the provider's sign-in form");
            let mut form = vec![("account", account)];
            if mfa {
                form.push(("mfa", "1"));
            }
            let r = self
                .raw
                .post(absolute(&at, action))
                .form(&form)
                .send()
                .await
                .unwrap();
            url = location(&r).expect("the provider redirects after sign-in");
        }
        panic!("the provider never sent the browser back");
    }

    /// Visits a URL of the portal (such as the callback), following its
    /// redirects: the page the person lands on.
    pub async fn visit(&self, url: &str) -> Page {
        let r = self.http.get(url).send().await.unwrap();
        page(r).await
    }

    /// The whole sign-in through a provider: the page the person lands on.
    pub async fn oidc_sign_in(&self, provider: &str, account: &str, mfa: bool) -> Page {
        let start = match self.oidc_start(provider).await {
            Ok(url) => url,
            Err(page) => return page,
        };
        let callback = self.at_provider(start, account, mfa).await;
        self.visit(&callback).await
    }
}
