//! The whole story in a real browser: a customer reports a problem with an
//! attachment, the service desk classifies it and asks back, the customer
//! answers, the desk solves and closes the ticket, and the customer reads
//! the solution but never the internal note. Chromium, driven through
//! chromedriver, sees and clicks what a person sees and clicks.
//!
//! Runs only with TICKETWERK_BROWSER_TESTS=1; then Chromium and chromedriver
//! must be installed (`apt-get install chromium chromium-driver`), or the
//! test fails. With TICKETWERK_TEST_DATABASE_URL set it runs on PostgreSQL
//! as well.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../mailroom/tests/support/mod.rs"]
mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use ticketwerk_domain::auth::TotpSecret;
use ticketwerk_domain::masterdata::{ContractInput, Period, SystemInput, SystemKind};
use ticketwerk_storage::Change;
use ticketwerk_web::Settings;

use common::{PASSWORD, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show what we wait for.
const WAIT: Duration = Duration::from_secs(15);

/// Whether the browser tests are asked for; says so when they are not.
fn enabled(test: &str) -> bool {
    if std::env::var("TICKETWERK_BROWSER_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "SKIPPED: browser test {test}: TICKETWERK_BROWSER_TESTS is not 1 \
         (set it, with chromium and chromium-driver installed, to run it)"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_story_in_chromium_on_sqlite() {
    if !enabled("on SQLite") {
        return;
    }
    let driver = Chromedriver::start().await;
    let app = common::spawn_with(None, Settings::default()).await;
    story(&driver, &app).await;
    for_someone_story(&driver, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_story_in_chromium_on_postgres() {
    if !enabled("on PostgreSQL") {
        return;
    }
    let Some(url) = common::postgres_url() else {
        eprintln!("SKIPPED: browser test on PostgreSQL: TICKETWERK_TEST_DATABASE_URL is not set");
        return;
    };
    let driver = Chromedriver::start().await;
    let database = common::fresh_postgres(&url).await;
    let app = common::spawn_with(Some(database), Settings::default()).await;
    story(&driver, &app).await;
    for_someone_story(&driver, &app).await;
}

/// The receipt reaches a real SMTP server with the customer's reference in
/// its subject; the customer answers it from their mail program, and the
/// answer shows in the portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_story_in_chromium() {
    if !enabled("mail story") {
        return;
    }
    assert!(
        std::env::var(support::smtp_server::ENABLE).is_ok_and(|v| v == "1"),
        "the mail story needs the SMTP server of the mail tests: set {}=1 and install aiosmtpd",
        support::smtp_server::ENABLE
    );
    let driver = Chromedriver::start().await;
    let app = common::spawn_with(None, Settings::default()).await;
    mail_story(&driver, &app).await;
}

async fn mail_story(driver: &Chromedriver, app: &TestApp) {
    use std::sync::Arc;
    use ticketwerk_domain::Email;
    use ticketwerk_mailroom::ingest::{Ingest, Settings as IngestSettings};
    use ticketwerk_mailroom::outbox::{Outbox, OutboxSettings, smtp_transport};

    let smtp = support::smtp_server::SmtpServer::start();
    let key = app
        .store
        .installation_secret("message_id_key")
        .await
        .unwrap();
    let desk = Email::parse("service@provider.example").unwrap();
    let outbox = Outbox::new(
        app.store.clone(),
        Arc::new(ticketwerk_mail::Templates::load(None).unwrap()),
        OutboxSettings {
            provider_name: "Beispiel IT".into(),
            from: desk.clone(),
            own_addresses: Vec::new(),
            portal_url: app.base.clone(),
            hourly_cap: 20,
            message_id_key: key.clone(),
        },
        smtp_transport(&smtp.url(), None).unwrap(),
        Arc::new(ticketwerk_web::status_label),
    );
    let worker = tokio::spawn(outbox.run());
    let bp = app.business_partner("20001", "Post GmbH").await;
    app.customer("paula@post.example", "Paula Post", bp).await;

    let customer = driver.browser(&app.base, "mail").await;
    customer.sign_in_and_enrol("paula@post.example").await;
    customer.click_link("Neues Ticket für mich anlegen").await;
    customer.wait_path("/tickets/new").await;
    customer.fill("#reference", "POST-0815").await;
    customer.fill("#short_text", "Scanner scannt nicht").await;
    customer
        .fill("#description", "Der Scanner im Flur zeigt Fehler E7.")
        .await;
    customer.choose("#impact", "Einzelne Person").await;
    customer.choose("#urgency", "Arbeiten möglich").await;
    customer.choose("#ticket_type", "Störung").await;
    customer.click("#create-ticket").await;
    customer
        .wait_text(".notice", "Ihr Ticket wurde angelegt")
        .await;
    let number = customer.text("#ticket-number").await;

    // The receipt arrives at the SMTP server.
    let deadline = Instant::now() + WAIT;
    let receipt = loop {
        if let Some((raw, envelope)) = smtp.received().into_iter().next() {
            assert!(envelope.contains("paula@post.example"), "{envelope}");
            break raw;
        }
        assert!(
            Instant::now() < deadline,
            "no receipt mail arrived within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let receipt = ticketwerk_mail::inbound::parse(&receipt, &Default::default()).unwrap();
    assert_eq!(
        receipt.subject,
        format!("[{number}] Scanner scannt nicht (Ihre Referenz: POST-0815)")
    );
    assert!(
        receipt
            .text
            .contains(&format!("{}/tickets/{number}", app.base))
    );

    // Paula answers from her mail program; the desk's mailbox hands the
    // reply to the portal.
    let message_id = receipt.message_id.unwrap();
    let reply = format!(
        "From: Paula Post <paula@post.example>\r\n\
         To: Beispiel IT <service@provider.example>\r\n\
         Subject: AW: {subject}\r\n\
         Message-ID: <antwort-1@post.example>\r\n\
         In-Reply-To: <{message_id}>\r\n\
         References: <{message_id}>\r\n\
         Date: Fri, 04 Dec 2026 09:30:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Es ist der Scanner im zweiten Stock, Raum 2.14.\r\n",
        subject = receipt.subject,
    );
    let inbox = Ingest::new(
        app.store.clone(),
        app.files.clone(),
        IngestSettings::new(10 * 1024 * 1024, key, vec![desk]),
    );
    inbox.ingest(reply.as_bytes(), common::now()).await.unwrap();

    customer.c.refresh().await.unwrap();
    customer
        .wait_text(
            "#timeline",
            "Es ist der Scanner im zweiten Stock, Raum 2.14.",
        )
        .await;
    worker.abort();
    customer.close().await;
}

// ---- chromedriver -----------------------------------------------------------

/// A chromedriver of our own on a free loopback port. Dropping it (also
/// when a test panics) kills it and every browser it started.
struct Chromedriver {
    child: Child,
    url: String,
    /// Fresh browser profiles, one per session.
    profiles: tempfile::TempDir,
}

impl Chromedriver {
    async fn start() -> Self {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing, but TICKETWERK_BROWSER_TESTS=1 asks for the browser test; \
                 install it with `apt-get install chromium chromium-driver`"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // A process group of its own, so the browsers go with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profiles: tempfile::tempdir().unwrap(),
        };
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = http.get(format!("{}/status", driver.url)).send().await;
            if status.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if let Some(exit) = driver.child.try_wait().unwrap() {
                panic!("chromedriver ended before it answered: {exit}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A new browser session with a fresh profile.
    async fn browser(&self, base: &str, who: &str) -> Browser {
        let profile = self.profiles.path().join(who);
        let downloads = self.profiles.path().join(format!("{who}-downloads"));
        std::fs::create_dir_all(&profile).unwrap();
        std::fs::create_dir_all(&downloads).unwrap();
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "intl.accept_languages": "de-DE,de",
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"));
        Browser {
            c: client,
            base: base.to_string(),
            who: who.to_string(),
            downloads,
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- What a person does in the browser ------------------------------------

struct Browser {
    c: Client,
    base: String,
    who: String,
    /// Where the browser saves downloads.
    downloads: PathBuf,
}

impl Browser {
    /// Where the browser is and what it shows, for a failure message.
    async fn context(&self, what: &str) -> String {
        let url = self
            .c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let text = match self.c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let text: String = text.chars().take(3000).collect();
        format!(
            "{} browser: {what}\n  at {url}\n  page shows:\n{text}",
            self.who
        )
    }

    async fn goto(&self, path: &str) {
        if let Err(e) = self.c.goto(&format!("{}{path}", self.base)).await {
            panic!(
                "{}",
                self.context(&format!("cannot open {path}: {e}")).await
            );
        }
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }

    /// Waits until the browser is on this path.
    async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        while self.path().await != path {
            if Instant::now() > deadline {
                panic!(
                    "{}",
                    self.context(&format!("expected to be on {path}")).await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn find(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("{}", self.context(&format!("no element {css}: {e}")).await),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap()
            .trim()
            .to_string()
    }

    /// Waits until the element's text contains `expected`.
    async fn wait_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains(expected) {
                return;
            }
            if Instant::now() > deadline {
                let what = format!("expected {css} to show {expected:?}, it shows {shown:?}");
                panic!("{}", self.context(&what).await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the text of `css` passes `check`.
    async fn wait_until(&self, css: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{}", self.context(&format!("{css} shows {text:?}")).await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn page_text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Picks an option of a select box by the text it shows.
    async fn choose(&self, css: &str, label: &str) {
        if let Err(e) = self.find(css).await.select_by_label(label).await {
            panic!(
                "{}",
                self.context(&format!("no option {label:?} in {css}: {e}"))
                    .await
            );
        }
    }

    async fn click(&self, css: &str) {
        if let Err(e) = self.find(css).await.click().await {
            panic!(
                "{}",
                self.context(&format!("cannot click {css}: {e}")).await
            );
        }
    }

    async fn click_link(&self, text: &str) {
        let link = match self
            .c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::LinkText(text))
            .await
        {
            Ok(link) => link,
            Err(e) => panic!("{}", self.context(&format!("no link {text:?}: {e}")).await),
        };
        link.click().await.unwrap();
    }

    async fn double_click(&self, element: Element) {
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0,
                y: 0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.c.perform_actions(mouse).await.unwrap();
        self.c.release_actions().await.unwrap();
    }

    /// First sign-in: password, then the authenticator set up from the
    /// secret shown as text, the recovery codes, and on to the home page.
    async fn sign_in_and_enrol(&self, email: &str) {
        self.goto("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.wait_path("/login/enrol").await;
        let shown = self.text("#totp-secret").await.replace(' ', "");
        let secret = TotpSecret::from_base32(&shown)
            .unwrap_or_else(|| panic!("the enrolment page shows no usable secret: {shown:?}"));
        self.fill("#code", &secret.code_at(common::now())).await;
        self.click("form[action='/login/enrol'] button[type=submit]")
            .await;
        let codes = self.find("#recovery-codes").await;
        let codes = codes.find_all(Locator::Css("li")).await.unwrap();
        assert!(
            !codes.is_empty(),
            "{}",
            self.context("no recovery codes shown").await
        );
        for code in &codes {
            assert!(
                !code.text().await.unwrap().trim().is_empty(),
                "an empty recovery code"
            );
        }
        self.click("#continue").await;
        self.wait_path("/").await;
        self.wait_text("h1", "Willkommen").await;
    }

    /// Opens a catalog from the tiles of the home page.
    async fn open_catalog(&self, tile: &str) {
        self.click("a.nav-home").await;
        self.wait_text("h1", "Willkommen").await;
        self.click_link(tile).await;
        self.wait_text("#catalog-title", tile).await;
    }

    /// The catalog row of a ticket, if the catalog lists it.
    async fn row(&self, number: &str) -> Option<Element> {
        let css = format!("tr[data-href='/tickets/{number}']");
        self.c.find(Locator::Css(&css)).await.ok()
    }

    /// Opens a ticket from the catalog by double-clicking its short text.
    async fn open_from_catalog(&self, number: &str, short_text: &str) {
        let Some(row) = self.row(number).await else {
            panic!(
                "{}",
                self.context(&format!("ticket {number} is not listed"))
                    .await
            );
        };
        let row_text = row.text().await.unwrap();
        assert!(
            row_text.contains(short_text),
            "row of {number} shows {row_text:?}"
        );
        let cell = row.find(Locator::Css("td:nth-child(6)")).await.unwrap();
        self.double_click(cell).await;
        self.wait_path(&format!("/tickets/{number}")).await;
        self.wait_text("#ticket-number", number).await;
    }

    /// Writes an entry of a kind (by its label) and waits until the
    /// timeline shows it.
    async fn add_entry(&self, kind: &str, body: &str) {
        self.choose("#entry-kind", kind).await;
        self.fill("#entry-body", body).await;
        self.click("#add-entry").await;
        self.wait_text("#timeline", body).await;
    }

    /// The text of the page's HTML, to check that something is not there
    /// at all (not merely hidden).
    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    async fn close(self) {
        self.c.close().await.unwrap();
    }
}

// ---- The story --------------------------------------------------------------

const SHORT_TEXT: &str = "Drucker im 2. OG druckt nur leere Seiten";
const DESCRIPTION: &str = "Seit heute Morgen kommen aus dem Drucker nur weiße Blätter.";
const FILE_NAME: &str = "druckprotokoll.txt";
const FILE_CONTENT: &str = "Job 4711: 3 Seiten, Toner 2 %\n";
const QUESTION: &str = "Welches Druckermodell ist es, und wie heißt es im Netzwerk?";
const ANSWER: &str = "Es ist ein Laserdrucker LX-300, Name im Netzwerk: DR-OG2-01.";
const INTERNAL: &str = "Intern: Toner beim Lieferanten nachbestellt, Kosten 89 Euro.";
const SOLUTION: &str = "Die Tonerkartusche wurde getauscht; der Drucker druckt wieder.";

async fn story(driver: &Chromedriver, app: &TestApp) {
    let started = Instant::now();
    let bp = app.business_partner("10001", "Muster GmbH").await;
    app.customer("erika@muster.example", "Erika Muster", bp)
        .await;
    app.agent("sam@desk.example", "Sam Service").await;
    let attachment: PathBuf = driver.profiles.path().join(FILE_NAME);
    std::fs::write(&attachment, FILE_CONTENT).unwrap();

    // The customer signs in for the first time and reports the problem.
    let customer = driver.browser(&app.base, "customer").await;
    customer.sign_in_and_enrol("erika@muster.example").await;
    customer.click_link("Neues Ticket für mich anlegen").await;
    customer.wait_path("/tickets/new").await;
    customer.fill("#short_text", SHORT_TEXT).await;
    customer.fill("#description", DESCRIPTION).await;
    customer.choose("#impact", "Einzelne Person").await;
    customer
        .choose("#urgency", "Arbeiten eingeschränkt möglich")
        .await;
    customer.choose("#ticket_type", "Störung").await;
    customer
        .find("#files")
        .await
        .send_keys(&attachment.display().to_string())
        .await
        .unwrap();
    customer.click("#create-ticket").await;
    customer
        .wait_text(".notice", "Ihr Ticket wurde angelegt")
        .await;
    let number = customer.text("#ticket-number").await;
    let parsed = number.parse::<ticketwerk_domain::TicketNumber>();
    assert!(
        parsed.is_ok(),
        "{}",
        customer.context("no ticket number").await
    );
    assert_eq!(customer.path().await, format!("/tickets/{number}"));
    assert_eq!(customer.text("#ticket-status").await, "Neu");
    assert_eq!(customer.text("#ticket-kind").await, "Call");
    customer.wait_text("h1", SHORT_TEXT).await;
    customer.wait_text("#ticket-description", DESCRIPTION).await;
    check_attachment(&customer, &number).await;

    // It is among the customer's open tickets.
    customer.open_catalog("Meine offenen Tickets").await;
    customer.open_from_catalog(&number, SHORT_TEXT).await;
    assert_eq!(customer.text("#ticket-status").await, "Neu");

    // The desk takes it from the new calls, classifies it and asks back.
    let agent = driver.browser(&app.base, "agent").await;
    agent.sign_in_and_enrol("sam@desk.example").await;
    agent.open_catalog("Neue Calls").await;
    agent.open_from_catalog(&number, SHORT_TEXT).await;
    agent.choose("#classify-kind", "Incident").await;
    agent.click("#classify").await;
    agent.wait_text("#ticket-kind", "Incident").await;
    agent.wait_text("#ticket-status", "In Bearbeitung").await;
    agent
        .add_entry("Rückfrage des Service Desk", QUESTION)
        .await;
    // The desk reads the same status in its own words.
    agent.wait_text("#ticket-status", "Warten auf Kunde").await;

    // The customer sees the question and answers it.
    customer.c.refresh().await.unwrap();
    customer.wait_text("#timeline", QUESTION).await;
    customer
        .wait_text("#timeline", "Rückfrage des Service Desk")
        .await;
    assert_eq!(customer.text("#ticket-status").await, "Rückfrage an Sie");
    assert_eq!(customer.text("#ticket-kind").await, "Incident");
    customer.add_entry("Kundenhinweis", ANSWER).await;
    customer.wait_text("#ticket-status", "In Bearbeitung").await;

    // The desk reads the answer, notes something internal, solves and
    // closes the ticket.
    agent.c.refresh().await.unwrap();
    agent.wait_text("#timeline", ANSWER).await;
    agent.add_entry("Interne Notiz", INTERNAL).await;
    agent.add_entry("Lösung", SOLUTION).await;
    agent.choose("#status-choice", "Abgeschlossen").await;
    agent.click("#set-status").await;
    agent.wait_text("#ticket-status", "Abgeschlossen").await;
    agent.find("#closed-hint").await;

    // The customer finds it among the closed tickets, no longer among the
    // open ones, and reads the solution but not the internal note.
    customer.open_catalog("Meine offenen Tickets").await;
    assert!(
        customer.row(&number).await.is_none(),
        "a closed ticket is listed as open"
    );
    customer.open_catalog("Geschlossene Tickets").await;
    customer.open_from_catalog(&number, SHORT_TEXT).await;
    assert_eq!(customer.text("#ticket-status").await, "Abgeschlossen");
    customer.wait_text("#timeline", SOLUTION).await;
    customer.wait_text("#timeline", "Lösung").await;
    customer.wait_text("#timeline", ANSWER).await;
    check_attachment(&customer, &number).await;
    let page = customer.page_text().await;
    assert!(
        !page.contains(INTERNAL),
        "the customer sees the internal note:\n{page}"
    );
    assert!(
        !page.contains("Interne Notiz"),
        "the customer sees an internal entry:\n{page}"
    );
    let html = customer.source().await;
    assert!(
        !html.contains(INTERNAL),
        "the internal note is in the customer's page source"
    );

    customer.close().await;
    agent.close().await;
    eprintln!(
        "browser story on {} took {:.1?}",
        app.base,
        started.elapsed()
    );
}

const FOR_COLLEAGUE: &str = "Headset von Thomas rauscht";

/// An authorised person reports for a colleague, choosing him and his
/// headset in the picker dialogs; she finds the ticket under her business
/// partner's open tickets, he under his own, and a person of another
/// business partner sees nothing of it.
async fn for_someone_story(driver: &Chromedriver, app: &TestApp) {
    let started = Instant::now();
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    let k2 = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let sabine = app
        .customer("sabine@mueller.example", "Sabine Krause", k1)
        .await;
    let thomas = app
        .customer("thomas@mueller.example", "Thomas Becker", k1)
        .await;
    app.customer("tamara@mueller.example", "Tamara Thomsen", k1)
        .await;
    app.customer("leonie@lindenau.example", "Leonie Fischer", k2)
        .await;
    let desk = Change {
        actor: None,
        at: common::now(),
    };
    let contract = ContractInput {
        name: "Servicevertrag".into(),
        period: Period::new(common::now() - 86_400, None).unwrap(),
    };
    let contract = app.store.add_contract(k1, &contract, desk).await.unwrap();
    let period = Period::new(common::now() - 86_400, None).unwrap();
    app.store
        .authorise(contract, sabine, period, desk)
        .await
        .unwrap();
    let headset = SystemInput {
        kind: SystemKind::Headset,
        name: "Jabra Evolve2 65".into(),
        inventory_number: "MS-HS-0042".into(),
        user: Some(thomas),
        active: true,
    };
    app.store.add_system(k1, &headset, desk).await.unwrap();

    let b = driver.browser(&app.base, "authorised").await;
    b.sign_in_and_enrol("sabine@mueller.example").await;
    b.click_link("Neues Ticket für jemanden anlegen").await;
    b.wait_path("/tickets/new-for-someone").await;
    // "Gemeldet für" through the picker dialog, by keyboard.
    b.click("#picker-reported_for .picker-open").await;
    b.find("dialog.picker-dialog[open]").await;
    b.wait_text("#picker-dialog-list", "Sabine Krause").await;
    b.fill("#picker-dialog-q", "thom").await;
    b.wait_until("#picker-dialog-list", |list| {
        list.contains("Tamara Thomsen")
            && list.contains("Thomas Becker")
            && !list.contains("Sabine")
    })
    .await;
    // Enter right after typing: the choice waits for the search it started.
    let q = b.find("#picker-dialog-q").await;
    q.send_keys("as\u{E007}").await.unwrap();
    b.wait_text("#reported_for-label", "Thomas Becker").await;
    // His headset, by mouse.
    b.click("#picker-system .picker-open").await;
    b.wait_text("#picker-dialog-list", "Jabra Evolve2 65").await;
    b.click("#picker-dialog-list [role=option]").await;
    b.wait_text("#system-label", "Jabra Evolve2 65").await;
    b.fill("#short_text", FOR_COLLEAGUE).await;
    b.fill(
        "#description",
        "Beim Telefonieren rauscht das Headset stark.",
    )
    .await;
    b.choose("#impact", "Einzelne Person").await;
    b.choose("#urgency", "Arbeiten eingeschränkt möglich").await;
    b.choose("#ticket_type", "Störung").await;
    b.click("#create-ticket").await;
    b.wait_text(".notice", "Ihr Ticket wurde angelegt").await;
    let number = b.text("#ticket-number").await;
    let page = b.page_text().await;
    assert!(
        page.contains("Thomas Becker") && page.contains("Jabra Evolve2 65"),
        "{}",
        b.context("reported for Thomas with his headset").await
    );
    b.open_catalog("Offene Tickets meiner Geschäftspartner")
        .await;
    b.open_from_catalog(&number, FOR_COLLEAGUE).await;

    let colleague = driver.browser(&app.base, "colleague").await;
    colleague.sign_in_and_enrol("thomas@mueller.example").await;
    colleague.open_catalog("Meine offenen Tickets").await;
    colleague.open_from_catalog(&number, FOR_COLLEAGUE).await;

    let other = driver.browser(&app.base, "other partner").await;
    other.sign_in_and_enrol("leonie@lindenau.example").await;
    other.open_catalog("Meine offenen Tickets").await;
    assert!(
        other.row(&number).await.is_none(),
        "listed for another business partner"
    );
    other.goto(&format!("/tickets/{number}")).await;
    let page = other.page_text().await;
    assert!(
        !page.contains(FOR_COLLEAGUE) && !page.contains("Thomas"),
        "{page}"
    );
    assert!(
        !other
            .page_text()
            .await
            .contains("Offene Tickets meiner Geschäftspartner")
    );

    b.close().await;
    colleague.close().await;
    other.close().await;
    eprintln!(
        "for-someone story on {} took {:.1?}",
        app.base,
        started.elapsed()
    );
}

/// The ticket page lists the attachment as a link, and the link downloads
/// the file in this browser session.
async fn check_attachment(b: &Browser, number: &str) {
    b.wait_text("#attachments", FILE_NAME).await;
    let link = b.find("#attachments a").await;
    assert_eq!(link.text().await.unwrap(), FILE_NAME);
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.starts_with(&format!("/tickets/{number}/attachments/")),
        "link {href}"
    );
    link.click().await.unwrap();
    let saved = b.downloads.join(FILE_NAME);
    let deadline = Instant::now() + WAIT;
    while !saved.exists() {
        if Instant::now() > deadline {
            panic!(
                "{}",
                b.context(&format!("{FILE_NAME} was not downloaded")).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        FILE_CONTENT,
        "the downloaded file"
    );
    // Room for the next download under the same name.
    std::fs::remove_file(&saved).unwrap();
}

// ---- Passkeys -----------------------------------------------------------------

/// WebDriver's virtual authenticator (WebAuthn level 2, §11), which
/// fantoccini has no method for: a platform authenticator that verifies
/// the user at once, so a test can register and use passkeys.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    async fn sign_out(&self) {
        self.click(".user-menu summary").await;
        self.click("form[action='/logout'] button[type=submit]")
            .await;
        self.wait_path("/login").await;
    }

    async fn password_only(&self, email: &str) {
        self.goto("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.wait_path("/login/second-factor").await;
    }
}

/// A person registers a passkey on the security page, signs in with it
/// instead of a code, renames and removes it; afterwards the app's code is
/// asked again. WebAuthn needs a domain name, so the portal is reached at
/// `localhost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_in_chromium() {
    if !enabled("passkeys") {
        return;
    }
    let driver = Chromedriver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let settings = Settings {
        portal_url: base.clone(),
        ..Settings::default()
    };
    let app = common::spawn_on(Some(listener), None, settings).await;
    let bp = app.business_partner("10001", "Muster GmbH").await;
    let kim = app.customer("kim@muster.example", "Kim Muster", bp).await;

    let b = driver.browser(&base, "kim").await;
    b.c.issue_cmd(AddVirtualAuthenticator)
        .await
        .unwrap_or_else(|e| panic!("no virtual authenticator: {e}"));
    b.sign_in_and_enrol("kim@muster.example").await;

    b.goto("/account/security").await;
    b.wait_text("#no-passkeys", "noch keinen Passkey").await;
    b.fill("#new-passkey-name", "Dienst-Laptop").await;
    b.click("#add-passkey").await;
    b.wait_text("#notice", "Der Passkey ist hinzugefügt").await;
    b.wait_text("#passkeys", "Hinzugefügt").await;
    let shown = b.find("tr.passkey input[name=name]").await;
    assert_eq!(
        shown.prop("value").await.unwrap().as_deref(),
        Some("Dienst-Laptop")
    );

    // The next sign-in: the password, then the passkey instead of a code.
    b.sign_out().await;
    b.password_only("kim@muster.example").await;
    b.click("#use-passkey").await;
    b.wait_path("/").await;
    b.wait_text("h1", "Willkommen").await;
    let events: Vec<String> = app
        .store
        .audit_page(Some(kim), None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.event, e.detail))
        .collect();
    assert!(
        events.contains(&"second_factor_enrolled passkey".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"second_factor_passkey ".to_string()),
        "{events:?}"
    );

    // Renamed, then removed: the code of the app is asked again.
    b.goto("/account/security").await;
    b.wait_text("#passkeys", "Zuletzt verwendet").await;
    b.fill("tr.passkey input[name=name]", "Privat-Laptop").await;
    b.click("tr.passkey form.inline-form button[type=submit]")
        .await;
    b.wait_text("#notice", "Der Name des Passkeys ist gespeichert")
        .await;
    let stored = app.store.passkeys_of(kim).await.unwrap();
    assert_eq!(stored[0].name, "Privat-Laptop");
    assert!(stored[0].last_used_at.is_some());
    b.click("tr.passkey form[action$='/delete'] button").await;
    b.wait_text("#notice", "Der Passkey ist entfernt").await;
    assert!(app.store.passkeys_of(kim).await.unwrap().is_empty());
    b.sign_out().await;
    b.password_only("kim@muster.example").await;
    assert!(
        b.c.find(Locator::Css("#use-passkey")).await.is_err(),
        "{}",
        b.context("a removed passkey is still offered").await
    );
    b.close().await;
}

// ---- Sign-in through an identity provider -------------------------------------

/// A person clicks the provider's button, signs in at the provider (a real
/// OpenID Connect provider on loopback) and lands in the portal; without
/// a second factor at the provider, the portal asks its own. In a real
/// browser, so the pages' security policy must let the forms go there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_sign_in_in_chromium() {
    if !enabled("identity provider") || !common::oidc::enabled("identity provider in Chromium") {
        return;
    }
    let driver = Chromedriver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let idp = common::oidc::Provider::start(&format!("{base}/login/oidc/firma/callback"), None);
    let settings = Settings {
        portal_url: base.clone(),
        identity_providers: vec![ticketwerk_web::IdentityProvider {
            name: "firma".into(),
            label: "Firmenkonto".into(),
            issuer: idp.issuer().to_string(),
            client_id: common::oidc::CLIENT_ID.into(),
            client_secret: common::oidc::CLIENT_SECRET.into(),
            kind: ticketwerk_domain::identity::ProviderKind::Generic,
            mfa_acr_values: Vec::new(),
            scopes: vec!["email".into(), "profile".into()],
        }],
        ..Settings::default()
    };
    let app = common::spawn_on(Some(listener), None, settings).await;
    let bp = app.business_partner("10001", "Muster GmbH").await;
    let kim = app.customer("kim@muster.example", "Kim Muster", bp).await;
    app.store
        .link_identity(kim, "firma", "kim", "", None, common::now())
        .await
        .unwrap();

    let b = driver.browser(&base, "kim-idp").await;
    b.goto("/login").await;
    b.click("#sign-in-firma").await;
    b.fill("input[name=account]", "kim").await;
    b.click("input[name=mfa]").await;
    b.click("button[type=submit]").await;
    b.wait_path("/").await;
    b.wait_text("h1", "Willkommen").await;
    b.wait_text(".user-menu summary", "Kim Muster").await;

    // Without the second factor at the provider: the portal's own step.
    b.sign_out().await;
    b.click("#sign-in-firma").await;
    b.fill("input[name=account]", "kim").await;
    b.click("button[type=submit]").await;
    b.wait_text(".alert", "keinen zweiten Faktor bestätigt")
        .await;
    assert!(
        b.c.find(Locator::Css(".user-menu")).await.is_err(),
        "{}",
        b.context("signed in on one factor").await
    );
    b.close().await;
}
