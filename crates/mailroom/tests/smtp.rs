//! The outbox worker against a real SMTP server on loopback (aiosmtpd,
//! from PyPI): what arrives, what a refusal does, retries with the same
//! bytes, and the loop guards. Runs when `TICKETWERK_SMTP_TESTS=1`
//! (`.ci/run` sets it and installs aiosmtpd); skipped with a note otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::sync::Arc;

use ticketwerk_domain::model::NewTicket;
use ticketwerk_domain::{
    Email, EntryKind, Id, Impact, TicketKind, TicketStatus, TicketType, Urgency,
};
use ticketwerk_mail::Templates;
use ticketwerk_mail::inbound::{Limits, parse};
use ticketwerk_mail::matching::ticket_of_message_id;
use ticketwerk_mailroom::outbox::{Outbox, OutboxSettings, smtp_transport};
use ticketwerk_storage::{MailState, NewPerson, OutboxMail, Store};

use support::smtp_server::{ENABLE, SmtpServer};
const T0: i64 = 1_767_225_600;
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn enabled() -> bool {
    if std::env::var(ENABLE).is_ok_and(|v| v == "1") {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "NOTE: {ENABLE} is not set; the SMTP tests were SKIPPED (they need python3 -m pip \
         install aiosmtpd)."
    );
    false
}

struct World {
    store: Store,
    _dir: tempfile::TempDir,
    partner: Id,
    desk: Id,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let partner = store
            .create_business_partner("10001", "Müller GmbH", T0)
            .await
            .unwrap();
        let desk = store
            .create_person(&person("desk@provider.example", "Dana Desk", true), T0)
            .await
            .unwrap();
        Self {
            store,
            _dir: dir,
            partner,
            desk,
        }
    }

    async fn customer(&self, email: &str, name: &str) -> Id {
        let id = self
            .store
            .create_person(&person(email, name, false), T0)
            .await
            .unwrap();
        self.store
            .add_membership(id, self.partner, false)
            .await
            .unwrap();
        id
    }

    async fn ticket(&self, by: Id, reference: &str) -> Id {
        let new = NewTicket {
            business_partner_id: self.partner,
            reported_by: by,
            reported_for: by,
            reference: reference.into(),
            short_text: "Drucker druckt nicht".into(),
            description: "Seit heute früh.".into(),
            impact: Impact::Person,
            urgency: Urgency::Restricted,
            ticket_type: TicketType::Incident,
            service_id: None,
            system_id: None,
        };
        self.store
            .create_ticket(&new, &[], 2026, T0)
            .await
            .unwrap()
            .0
    }

    fn outbox(&self, smtp_url: &str, hourly_cap: i64) -> Outbox {
        let settings = OutboxSettings {
            provider_name: "Beispiel IT".into(),
            from: Email::parse("service@provider.example").unwrap(),
            own_addresses: vec![Email::parse("desk@provider.example").unwrap()],
            portal_url: "https://portal.provider.example".into(),
            hourly_cap,
            message_id_key: KEY.to_vec(),
        };
        Outbox::new(
            self.store.clone(),
            Arc::new(Templates::load(None).unwrap()),
            settings,
            smtp_transport(smtp_url, None).unwrap(),
            Arc::new(|status, _| status.code().to_string()),
        )
    }

    async fn mails(&self, ticket: Id) -> Vec<OutboxMail> {
        self.store.outgoing_mails_of_ticket(ticket).await.unwrap()
    }
}

fn person(email: &str, name: &str, agent: bool) -> NewPerson {
    NewPerson {
        email: Email::parse(email).unwrap(),
        name: name.into(),
        phone: String::new(),
        language: "de".into(),
        agent,
        password_hash: None,
    }
}

#[tokio::test]
async fn the_receipt_arrives_with_number_reference_and_our_headers() {
    if !enabled() {
        return;
    }
    let smtp = SmtpServer::start();
    let w = World::new().await;
    let anna = w.customer("anna.berg@mueller.example", "Anna Berg").await;
    let ticket = w.ticket(anna, "INC-4711").await;

    assert_eq!(w.outbox(&smtp.url(), 20).run_once(T0).await.unwrap(), 1);

    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let (raw, envelope) = &received[0];
    assert!(envelope.contains("anna.berg@mueller.example"), "{envelope}");
    let mail = parse(raw, &Limits::default()).unwrap();
    assert_eq!(
        mail.subject,
        "[2026-000001] Drucker druckt nicht (Ihre Referenz: INC-4711)"
    );
    assert!(mail.text.contains("Anna Berg"), "{}", mail.text);
    assert!(
        mail.text
            .contains("https://portal.provider.example/tickets/2026-000001")
    );
    let text = String::from_utf8_lossy(raw);
    assert!(text.contains("Auto-Submitted: auto-generated"));
    let id = mail.message_id.clone().unwrap();
    assert_eq!(
        ticket_of_message_id(&id, KEY).map(|n| n.to_string()),
        Some("2026-000001".into()),
        "our Message-ID names the ticket and verifies"
    );
    let kept = &w.mails(ticket).await[0];
    assert_eq!(kept.state, MailState::Sent);
    assert_eq!(kept.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(w.outbox(&smtp.url(), 20).run_once(T0 + 5).await.unwrap(), 0);
    assert_eq!(smtp.received().len(), 1, "sent once");
}

#[tokio::test]
async fn a_permanent_refusal_fails_with_the_server_s_words() {
    if !enabled() {
        return;
    }
    let smtp = SmtpServer::start();
    let w = World::new().await;
    let gone = w
        .customer("reject.me@mueller.example", "Weg Gegangen")
        .await;
    let ticket = w.ticket(gone, "").await;

    w.outbox(&smtp.url(), 20).run_once(T0).await.unwrap();

    let mail = &w.mails(ticket).await[0];
    assert_eq!(mail.state, MailState::Failed);
    assert!(mail.reason.contains("550"), "{}", mail.reason);
    assert!(smtp.received().is_empty());
    assert_eq!(
        w.outbox(&smtp.url(), 20)
            .run_once(T0 + 86_400)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_temporary_refusal_is_tried_again_later() {
    if !enabled() {
        return;
    }
    let smtp = SmtpServer::start();
    let w = World::new().await;
    let busy = w.customer("later@mueller.example", "Spä Ter").await;
    let ticket = w.ticket(busy, "").await;
    let outbox = w.outbox(&smtp.url(), 20);

    assert_eq!(outbox.run_once(T0).await.unwrap(), 1);
    let mail = &w.mails(ticket).await[0];
    assert_eq!(mail.state, MailState::Queued);
    assert!(mail.reason.contains("451"), "{}", mail.reason);
    assert_eq!(
        outbox.run_once(T0 + 59).await.unwrap(),
        0,
        "not before a minute"
    );
    assert_eq!(outbox.run_once(T0 + 60).await.unwrap(), 1);
    assert_eq!(w.mails(ticket).await[0].attempts, 2);
}

#[tokio::test]
async fn a_server_that_was_down_gets_the_same_bytes_later() {
    if !enabled() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = World::new().await;
    let anna = w.customer("anna@mueller.example", "Anna Berg").await;
    let ticket = w.ticket(anna, "").await;
    let outbox = w.outbox(&format!("smtp://127.0.0.1:{port}"), 20);

    outbox.run_once(T0).await.unwrap();
    let first = w.mails(ticket).await.remove(0);
    assert_eq!(first.state, MailState::Queued, "nothing listens: try again");
    let kept = first.raw.clone().expect("rendered once and kept");

    let smtp = SmtpServer::start_on(port);
    outbox.run_once(T0 + 60).await.unwrap();
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&received[0].0)
            .replace("\r\n", "\n")
            .trim_end(),
        kept.replace("\r\n", "\n").trim_end(),
        "the retry sends the bytes of the first attempt"
    );
    assert_eq!(w.mails(ticket).await[0].state, MailState::Sent);
}

#[tokio::test]
async fn a_worker_that_died_while_sending_leaves_the_mail_to_the_next() {
    if !enabled() {
        return;
    }
    let smtp = SmtpServer::start();
    let w = World::new().await;
    let anna = w.customer("anna@mueller.example", "Anna Berg").await;
    w.ticket(anna, "").await;
    // A worker claims the mail and dies before sending.
    assert!(w.store.claim_mail(T0, 300).await.unwrap().is_some());
    let outbox = w.outbox(&smtp.url(), 20);

    assert_eq!(
        outbox.run_once(T0 + 10).await.unwrap(),
        0,
        "its lease still runs"
    );
    assert_eq!(outbox.run_once(T0 + 300).await.unwrap(), 1);
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn the_loop_guards_suppress_and_say_why() {
    if !enabled() {
        return;
    }
    let smtp = SmtpServer::start();
    let w = World::new().await;
    let anna = w.customer("anna@mueller.example", "Anna Berg").await;
    let tickets = [
        w.ticket(anna, "").await,
        w.ticket(anna, "").await,
        w.ticket(anna, "").await,
    ];
    // The desk's own address as a customer: a loop in the making.
    let own = w.customer("service@provider.example", "Postfach").await;
    let looping = w.ticket(own, "").await;

    w.outbox(&smtp.url(), 2).run_once(T0).await.unwrap();

    assert_eq!(smtp.received().len(), 2, "two an hour, no more");
    let third = &w.mails(tickets[2]).await[0];
    assert_eq!(
        (third.state, third.reason.as_str()),
        (MailState::Suppressed, "hourly_cap")
    );
    let own_mail = &w.mails(looping).await[0];
    assert_eq!(
        (own_mail.state, own_mail.reason.as_str()),
        (MailState::Suppressed, "own_address")
    );
    // An hour later the cap has room again for new mail.
    let later = w.ticket(anna, "").await;
    w.outbox(&smtp.url(), 2).run_once(T0 + 3_601).await.unwrap();
    assert_eq!(w.mails(later).await[0].state, MailState::Sent);
    let _ = w.desk;
}

/// While SMTP was down, the desk asked, the customer answered in the
/// portal, the desk solved, closed and reopened the ticket: the receipt goes out
/// dated when the ticket arrived, the answered question and the first
/// status mail are overtaken, the last status mail goes.
#[tokio::test]
async fn mails_overtaken_while_smtp_was_down_are_not_sent() {
    if !enabled() {
        return;
    }
    let w = World::new().await;
    let anna = w.customer("anna@mueller.example", "Anna Berg").await;
    let id = w.ticket(anna, "").await;
    let s = &w.store;
    let reload = || async { s.ticket(id).await.unwrap().unwrap() };
    s.classify(&reload().await, TicketKind::Incident, w.desk, T0 + 1)
        .await
        .unwrap();
    let t = reload().await;
    s.add_entry(
        &t,
        EntryKind::DeskQuestion,
        w.desk,
        "Welcher Drucker?",
        &[],
        T0 + 2,
    )
    .await
    .unwrap();
    let t = reload().await;
    s.add_entry(&t, EntryKind::CustomerNote, anna, "HP 4250", &[], T0 + 3)
        .await
        .unwrap();
    let t = reload().await;
    s.add_entry(&t, EntryKind::Solution, w.desk, "Getauscht.", &[], T0 + 4)
        .await
        .unwrap();
    let t = reload().await;
    s.set_status(&t, TicketStatus::Closed, w.desk, T0 + 5)
        .await
        .unwrap();
    // Reopened: the news is the last status, not "closed".
    let t = reload().await;
    s.set_status(&t, TicketStatus::InProgress, w.desk, T0 + 6)
        .await
        .unwrap();

    let smtp = SmtpServer::start();
    let outbox = w.outbox(&smtp.url(), 20);
    let later = T0 + 3 * 3_600;
    while outbox.run_once(later).await.unwrap() > 0 {}
    let states: Vec<_> = w
        .mails(id)
        .await
        .into_iter()
        .map(|m| (m.template.name(), m.state, m.reason))
        .collect();
    let outdated = |name| (name, MailState::Suppressed, "outdated".to_string());
    let sent = |name| (name, MailState::Sent, String::new());
    assert!(states.contains(&sent("ticket_received")), "{states:?}");
    assert!(states.contains(&outdated("desk_question")), "{states:?}");
    assert!(states.contains(&sent("solution")), "{states:?}");
    let status: Vec<_> = states
        .iter()
        .filter(|(name, ..)| *name == "status_changed")
        .collect();
    // Newest first, as the desk lists them.
    let (last, earlier) = status.split_first().expect("status mails");
    assert_eq!(**last, sent("status_changed"), "{states:?}");
    assert!(!earlier.is_empty(), "{states:?}");
    assert!(earlier.iter().all(|m| **m == outdated("status_changed")));
    // Each mail is dated when its cause happened, not when SMTP took it.
    let day = |at: i64| {
        jiff::Timestamp::from_second(at)
            .unwrap()
            .strftime("%d %b %Y %H:%M")
            .to_string()
    };
    let received: Vec<String> = smtp
        .received()
        .into_iter()
        .map(|(raw, ..)| String::from_utf8_lossy(&raw).into_owned())
        .collect();
    assert!(
        received.iter().any(|raw| raw.contains(&day(T0))),
        "{received:?}"
    );
    assert!(!received.iter().any(|raw| raw.contains(&day(later))));
}
