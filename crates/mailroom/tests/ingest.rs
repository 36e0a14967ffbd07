//! Incoming mail through the real ingest, on SQLite always and on
//! PostgreSQL when `TICKETWERK_TEST_DATABASE_URL` names a server: what the
//! customer and the desk find afterwards.
#![allow(clippy::unwrap_used)]

#[path = "../../storage/tests/common/mod.rs"]
mod common;

use common::{World, YEAR, for_each_backend, new_person, report};
use ticketwerk_domain::access::Catalog;
use ticketwerk_domain::mail::{HoldReason, MailFate};
use ticketwerk_domain::model::{Entry, Ticket};
use ticketwerk_domain::{Email, EntryKind, TicketKind, TicketNumber, TicketStatus, Viewer};
use ticketwerk_mail::matching::message_id_for;
use ticketwerk_mailroom::ingest::{Ingest, Settings};
use ticketwerk_mailroom::{Delivered, DeliveryError};
use ticketwerk_storage::{FileStore, InboundMail, Recorded, SortKey, Store, TicketQuery};

const KEY: &[u8] = b"the installation's message id key";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

struct Desk {
    store: Store,
    ingest: Ingest,
    w: World,
    /// Acme's ticket, reported by Ben for himself.
    ticket: Ticket,
    _files: tempfile::TempDir,
}

impl Desk {
    async fn new(store: Store) -> Self {
        Self::with_settings(store, Settings::new(1 << 20, KEY.to_vec(), own())).await
    }

    async fn with_settings(store: Store, settings: Settings) -> Self {
        let w = World::create(&store).await;
        let (_, number) = store
            .create_ticket(&report(w.acme, w.ben, w.ben, "Drucker"), &[], YEAR, now())
            .await
            .unwrap();
        let ticket = store.ticket_by_number(&number).await.unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = FileStore::new(dir.path());
        let ingest = Ingest::new(store.clone(), files, settings);
        Self {
            store,
            ingest,
            w,
            ticket,
            _files: dir,
        }
    }

    async fn deliver(&self, raw: &str) -> Delivered {
        self.ingest.ingest(raw.as_bytes(), now()).await.unwrap()
    }

    async fn reload(&self) -> Ticket {
        self.store
            .ticket_by_number(&self.ticket.number)
            .await
            .unwrap()
            .unwrap()
    }

    /// The timeline of the ticket as Ben (the customer) sees it.
    async fn customer_timeline(&self) -> Vec<Entry> {
        let ben = self.viewer(self.w.ben).await;
        self.store
            .entries(self.ticket.id, &ben.visible_entry_kinds())
            .await
            .unwrap()
    }

    async fn desk_timeline(&self) -> Vec<Entry> {
        let dora = self.viewer(self.w.dora).await;
        self.store
            .entries(self.ticket.id, &dora.visible_entry_kinds())
            .await
            .unwrap()
    }

    async fn viewer(&self, person: i64) -> Viewer {
        self.store.viewer_at(person, now()).await.unwrap().unwrap()
    }

    async fn held(&self) -> Vec<InboundMail> {
        self.store.held_mails(None, 100).await.unwrap().items
    }

    /// The numbers in a person's "Meine offenen Tickets".
    async fn my_open(&self, person: i64) -> Vec<TicketNumber> {
        let (scope, status) = self
            .viewer(person)
            .await
            .catalog(Catalog::MyOpen, None)
            .unwrap();
        let q = TicketQuery {
            scope,
            status,
            sort: SortKey::Number,
            descending: false,
            search: None,
            columns: Default::default(),
            after: None,
            limit: 100,
        };
        let page = self.store.list_tickets(&q).await.unwrap();
        page.items.into_iter().map(|t| t.number).collect()
    }

    async fn all_ticket_count(&self) -> usize {
        let dora = self.viewer(self.w.dora).await;
        let mut n = 0;
        for catalog in [Catalog::DeskOpen, Catalog::DeskClosed] {
            let (scope, status) = dora.catalog(catalog, None).unwrap();
            let q = TicketQuery {
                scope,
                status,
                sort: SortKey::Number,
                descending: false,
                search: None,
                columns: Default::default(),
                after: None,
                limit: 1000,
            };
            n += self.store.list_tickets(&q).await.unwrap().items.len();
        }
        n
    }
}

fn own() -> Vec<Email> {
    vec![Email::parse("desk@provider.example").unwrap()]
}

/// A plain mail; `headers` are added as written (each ending in CRLF).
fn mail(from: &str, subject: &str, id: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: desk@provider.example\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Mon, 2 Feb 2026 10:00:00 +0100\r\n{headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn kinds(entries: &[Entry]) -> Vec<EntryKind> {
    entries.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_reply_by_the_reporter_is_a_report_in_the_portal_and_answers_the_question() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let t = d.ticket.clone();
        d.store
            .classify(&t, TicketKind::Incident, d.w.dora, now())
            .await
            .unwrap();
        let t = d.reload().await;
        d.store
            .add_entry(
                &t,
                EntryKind::DeskQuestion,
                d.w.dora,
                "Welches Modell?",
                &[],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(d.reload().await.status, TicketStatus::WaitingForCustomer);

        let raw = format!(
            "From: Ben Cole <Ben@ACME.example>\r\nTo: desk@provider.example\r\n\
             Subject: AW: [{}] Drucker\r\nMessage-ID: <r1@acme.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nEin HP LaserJet 4.\r\n\
             --b\r\nContent-Type: application/pdf\r\n\
             Content-Disposition: attachment; filename=\"=?utf-8?q?Typenschild_=C3=BC.pdf?=\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n",
            t.number
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);

        let timeline = d.customer_timeline().await;
        let last = timeline
            .iter()
            .rev()
            .find(|e| e.kind != EntryKind::StatusChange)
            .unwrap();
        assert_eq!(last.kind, EntryKind::Report);
        assert_eq!(last.body, "Ein HP LaserJet 4.");
        assert_eq!(last.author_id, Some(d.w.ben));
        assert_eq!(d.reload().await.status, TicketStatus::InProgress);
        let ben = d.viewer(d.w.ben).await;
        let files = d
            .store
            .attachments(t.id, &ben.visible_entry_kinds())
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file_name, "Typenschild ü.pdf");
        assert_eq!(files[0].entry_id, Some(last.id));
        assert!(d.held().await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_same_mail_delivered_twice_is_one_entry() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let subject = format!("Re: [{}]", d.ticket.number);
        let raw = mail(
            "ben@acme.example",
            &subject,
            "twice@acme.example",
            "",
            "Noch da?",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        assert_eq!(d.deliver(&raw).await, Delivered::Duplicate);
        // The same Message-ID through another path with other headers.
        let again = raw.replace("To: desk@provider.example", "To: help@provider.example");
        assert_eq!(d.deliver(&again).await, Delivered::Duplicate);
        // Without a Message-ID, the same bytes are the same mail.
        let anonymous = raw.replace("Message-ID: <twice@acme.example>\r\n", "");
        assert_eq!(d.deliver(&anonymous).await, Delivered::Stored);
        assert_eq!(d.deliver(&anonymous).await, Delivered::Duplicate);
        assert_eq!(
            kinds(&d.customer_timeline().await),
            [EntryKind::Report, EntryKind::Report]
        );
    })
    .await;
}

#[tokio::test]
async fn spoofed_senders_never_reach_the_customer() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let subject = format!("[{}] Bitte Zugangsdaten senden", d.ticket.number);
        // Olga of another business partner, a stranger, and Carl (Acme,
        // but neither party nor authorised): the number does not match.
        for (from, id) in [
            ("olga@globex.example", "s1@x"),
            ("mallory@evil.example", "s2@x"),
            ("carl@acme.example", "s3@x"),
        ] {
            assert_eq!(
                d.deliver(&mail(from, &subject, id, "", "Hallo")).await,
                Delivered::Stored
            );
        }
        assert_eq!(kinds(&d.customer_timeline().await), Vec::<EntryKind>::new());
        assert_eq!(kinds(&d.desk_timeline().await), Vec::<EntryKind>::new());
        // Known persons got calls of their own; the stranger is held.
        let olgas = d.my_open(d.w.olga).await;
        assert_eq!(olgas.len(), 1);
        let call = d.store.ticket_by_number(&olgas[0]).await.unwrap().unwrap();
        assert_eq!(call.business_partner_id, d.w.globex);
        assert_eq!(d.my_open(d.w.carl).await.len(), 1);
        assert_eq!(
            d.my_open(d.w.ben).await,
            std::slice::from_ref(&d.ticket.number)
        );
        let held = d.held().await;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].sender, "mallory@evil.example");
        assert_eq!(held[0].reason, Some(HoldReason::UnknownSender));

        // Anna may see the ticket (authorised) but is no party: desk only.
        let anna = mail(
            "anna@acme.example",
            &subject,
            "s4@x",
            "",
            "Ich kümmere mich.",
        );
        assert_eq!(d.deliver(&anna).await, Delivered::Stored);
        assert_eq!(kinds(&d.customer_timeline().await), Vec::<EntryKind>::new());
        let desk = d.desk_timeline().await;
        assert_eq!(kinds(&desk), [EntryKind::DeskMail]);
        assert_eq!(desk[0].author_id, Some(d.w.anna));
        let annas = d.viewer(d.w.anna).await;
        let seen = d
            .store
            .entries(d.ticket.id, &annas.visible_entry_kinds())
            .await
            .unwrap();
        assert!(seen.is_empty(), "not even the authorised person sees it");
    })
    .await;
}

#[tokio::test]
async fn only_our_signed_message_ids_match() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let forged = message_id_for(&d.ticket.number, 1, b"guessed key", "provider.example");
        let headers = format!("In-Reply-To: <{forged}>\r\nReferences: <{forged}>\r\n");
        let raw = mail(
            "mallory@evil.example",
            "Re: Ihr Ticket",
            "f1@x",
            &headers,
            "Hi",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        assert!(d.desk_timeline().await.is_empty());
        assert_eq!(d.held().await[0].reason, Some(HoldReason::UnknownSender));

        // A genuine one: whoever answers our mail reaches the desk, not
        // the customer (a colleague in Cc, a technician).
        let genuine = message_id_for(&d.ticket.number, 1, KEY, "provider.example");
        let headers = format!("In-Reply-To: <{genuine}>\r\n");
        let raw = mail(
            "tech@vendor.example",
            "Re: Ihr Ticket",
            "f2@x",
            &headers,
            "Erledigt",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        assert!(d.customer_timeline().await.is_empty());
        assert_eq!(kinds(&d.desk_timeline().await), [EntryKind::DeskMail]);
        let mails = d.store.mails_of_ticket(d.ticket.id).await.unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].sender, "tech@vendor.example");

        // The reporter answering our mail with any subject: a report.
        let raw = mail(
            "ben@acme.example",
            "Re: Ihr Ticket",
            "f3@x",
            &headers,
            "Danke",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        assert_eq!(kinds(&d.customer_timeline().await), [EntryKind::Report]);
    })
    .await;
}

#[tokio::test]
async fn bounces_and_out_of_office_replies_open_nothing_and_show_nothing() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let ours = message_id_for(&d.ticket.number, 1, KEY, "provider.example");
        let bounce = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n\
             To: desk@provider.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
             Message-ID: <b1@mx>\r\nIn-Reply-To: <{ours}>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
             --r\r\nContent-Type: text/plain\r\n\r\nben@acme.example: mailbox full\r\n\
             --r\r\nContent-Type: message/delivery-status\r\n\r\n\
             Final-Recipient: rfc822; ben@acme.example\r\nAction: failed\r\n\r\n--r--\r\n"
        );
        let subject = format!("Abwesenheitsnotiz: [{}] Drucker", d.ticket.number);
        let out_of_office = mail(
            "ben@acme.example",
            &subject,
            "o1@acme.example",
            "Auto-Submitted: auto-replied\r\n",
            "Ich bin bis Montag nicht im Büro.",
        );
        let unthreaded = mail(
            "ben@acme.example",
            "Automatische Antwort: Hallo",
            "o2@acme.example",
            "X-Auto-Response-Suppress: All\r\n",
            "Ich bin nicht im Büro.",
        );
        let from_ourselves = mail("desk@provider.example", "Loop?", "o3@x", "", "Echo");
        for raw in [&bounce, &out_of_office, &unthreaded, &from_ourselves] {
            assert_eq!(d.deliver(raw).await, Delivered::Stored);
        }
        assert!(d.customer_timeline().await.is_empty());
        assert_eq!(
            kinds(&d.desk_timeline().await),
            [EntryKind::DeskMail, EntryKind::DeskMail]
        );
        assert_eq!(d.all_ticket_count().await, 1, "no new ticket");
        let held = d.held().await;
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|m| m.reason == Some(HoldReason::Automatic)));
        assert_eq!(d.reload().await.updated_at, d.ticket.updated_at);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_sender_is_held_until_the_desk_accepts_a_call() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let raw = mail(
            "Eva Neu <eva@acme.example>",
            "WG: VPN geht nicht",
            "u1@acme.example",
            "",
            "Seit heute früh.",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        let held = d.held().await;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].sender_name, "Eva Neu");
        assert_eq!(held[0].subject, "WG: VPN geht nicht");
        let id = held[0].id;

        // A person who cannot have tickets is refused at the field.
        let dora = Email::parse("dora@desk.example").unwrap();
        assert!(
            d.ingest
                .accept_as_call(id, &dora, None, d.w.dora, now())
                .await
                .is_err()
        );

        let ben = Email::parse("ben@acme.example").unwrap();
        let accepted = d
            .ingest
            .accept_as_call(id, &ben, None, d.w.dora, now())
            .await;
        let Some(Recorded::Stored { fate, ticket, .. }) = accepted.unwrap() else {
            panic!("accepted");
        };
        assert_eq!(fate, MailFate::NewCall);
        let number = ticket.unwrap();
        assert!(d.my_open(d.w.ben).await.contains(&number));
        let call = d.store.ticket_by_number(&number).await.unwrap().unwrap();
        assert_eq!(call.short_text, "VPN geht nicht");
        assert_eq!(call.description, "Seit heute früh.");
        assert!(d.held().await.is_empty());
        // A second click opens nothing more.
        let again = d
            .ingest
            .accept_as_call(id, &ben, None, d.w.dora, now())
            .await;
        assert!(again.unwrap().is_none());
        assert_eq!(d.my_open(d.w.ben).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn unreadable_and_oversized_mail_is_held_and_can_be_retried() {
    for_each_backend(|store| async move {
        let settings = Settings::new(4096, KEY.to_vec(), own());
        let d = Desk::with_settings(store, settings).await;
        let garbage = [0xffu8, 0xfe, 0x00, 0x01, 0x02];
        assert_eq!(
            d.ingest.ingest(&garbage, now()).await.unwrap(),
            Delivered::Stored
        );
        let big = mail("ben@acme.example", "Logs", "big@x", "", &"x".repeat(5000));
        assert_eq!(d.deliver(&big).await, Delivered::Stored);
        let huge = "y".repeat(9000);
        assert!(matches!(
            d.ingest.ingest(huge.as_bytes(), now()).await,
            Err(DeliveryError::Permanent(_))
        ));
        let held = d.held().await;
        let reasons: Vec<_> = held.iter().map(|m| m.reason).collect();
        assert_eq!(
            reasons,
            [Some(HoldReason::TooLarge), Some(HoldReason::Unparseable)]
        );
        assert!(held[0].detail.contains("4096"), "{}", held[0].detail);
        let again = d.ingest.retry(held[1].id, Some(d.w.dora), now()).await;
        let Some(Recorded::Stored { fate, reason, .. }) = again.unwrap() else {
            panic!("retried");
        };
        assert_eq!(
            (fate, reason),
            (MailFate::Held, Some(HoldReason::Unparseable))
        );
        assert_eq!(d.held().await.len(), 2, "still held, nothing lost");
        // Nor does it become a call: the customer would see an empty one.
        let ben = Email::parse("ben@acme.example").unwrap();
        for mail in &held {
            let accepted = d
                .ingest
                .accept_as_call(mail.id, &ben, None, d.w.dora, now())
                .await;
            assert!(
                matches!(
                    accepted,
                    Err(ticketwerk_storage::StorageError::Domain(
                        ticketwerk_domain::DomainError::Conflict("mail_unreadable")
                    ))
                ),
                "{accepted:?}"
            );
        }
        assert_eq!(d.held().await.len(), 2);
        assert_eq!(d.my_open(d.w.ben).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_retry_finds_a_sender_added_meanwhile() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let raw = mail(
            "eva@acme.example",
            "Monitor flackert",
            "r@x",
            "",
            "Seit gestern.",
        );
        d.deliver(&raw).await;
        let id = d.held().await[0].id;
        let eva = d
            .store
            .create_person(&new_person("eva@acme.example", "Eva Neu", false), now())
            .await
            .unwrap();
        d.store.add_membership(eva, d.w.acme, false).await.unwrap();
        let again = d.ingest.retry(id, Some(d.w.dora), now()).await.unwrap();
        assert!(matches!(
            again,
            Some(Recorded::Stored {
                fate: MailFate::NewCall,
                ..
            })
        ));
        assert_eq!(d.my_open(eva).await.len(), 1);
        assert!(d.held().await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn mail_without_a_number_from_a_known_person_opens_a_call() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let raw = mail(
            "Carl@Acme.example",
            "Neuer Laptop",
            "c1@acme.example",
            "",
            "Bitte.",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        let mine = d.my_open(d.w.carl).await;
        assert_eq!(mine.len(), 1);
        let call = d.store.ticket_by_number(&mine[0]).await.unwrap().unwrap();
        assert_eq!(call.business_partner_id, d.w.acme);
        assert_eq!(call.kind, TicketKind::Call);
        assert_eq!(call.status, TicketStatus::New);
        assert_eq!((call.reported_by, call.reported_for), (d.w.carl, d.w.carl));
        assert_eq!(call.short_text, "Neuer Laptop");
        assert_eq!(call.priority.level(), 5);
        // The desk, who has no business partner, opens nothing by mail.
        let raw = mail("dora@desk.example", "Test", "c2@x", "", "Test");
        d.deliver(&raw).await;
        assert_eq!(
            d.held().await[0].reason,
            Some(HoldReason::NoBusinessPartner)
        );
    })
    .await;
}

#[tokio::test]
async fn mail_from_a_person_of_two_partners_waits_for_the_desk_to_choose_one() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        // Carl also works for Globex: a call opened in the wrong partner
        // would show his mail to that partner's authorised persons.
        d.store
            .add_membership(d.w.carl, d.w.globex, false)
            .await
            .unwrap();
        let raw = mail(
            "carl@acme.example",
            "Zählerauslese bei Globex",
            "two@acme.example",
            "",
            "Interna von Globex.",
        );
        assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        assert!(d.my_open(d.w.carl).await.is_empty());
        let held = d.held().await;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].reason, Some(HoldReason::SeveralBusinessPartners));
        let id = held[0].id;

        let carl = Email::parse("carl@acme.example").unwrap();
        let refused = |r: Result<Option<Recorded>, ticketwerk_storage::StorageError>| match r {
            Err(ticketwerk_storage::StorageError::Domain(e)) => e.to_string(),
            other => panic!("refused, not {other:?}"),
        };
        // Without a choice, or with a partner he is not in, nothing opens.
        let none = d
            .ingest
            .accept_as_call(id, &carl, None, d.w.dora, now())
            .await;
        assert!(refused(none).contains("business_partner"));
        let olga = Email::parse("olga@globex.example").unwrap();
        let foreign = d
            .ingest
            .accept_as_call(id, &olga, Some(d.w.acme), d.w.dora, now())
            .await;
        assert!(refused(foreign).contains("business_partner"));
        assert_eq!(d.held().await.len(), 1);

        let chosen = d
            .ingest
            .accept_as_call(id, &carl, Some(d.w.globex), d.w.dora, now())
            .await;
        let Some(Recorded::Stored { ticket, .. }) = chosen.unwrap() else {
            panic!("accepted");
        };
        let call = d
            .store
            .ticket_by_number(&ticket.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(call.business_partner_id, d.w.globex);
        assert_eq!((call.reported_by, call.reported_for), (d.w.carl, d.w.carl));
    })
    .await;
}

#[tokio::test]
async fn mail_to_a_closed_ticket_is_held_for_the_desk() {
    for_each_backend(|store| async move {
        let d = Desk::new(store).await;
        let t = d.ticket.clone();
        let s = &d.store;
        s.classify(&t, TicketKind::Incident, d.w.dora, now())
            .await
            .unwrap();
        let t = d.reload().await;
        s.add_entry(
            &t,
            EntryKind::Solution,
            d.w.dora,
            "Neu gestartet",
            &[],
            now(),
        )
        .await
        .unwrap();
        let t = d.reload().await;
        s.set_status(&t, TicketStatus::Closed, d.w.dora, now())
            .await
            .unwrap();
        let subject = format!("Re: [{}]", t.number);
        d.deliver(&mail(
            "ben@acme.example",
            &subject,
            "z@x",
            "",
            "Wieder kaputt",
        ))
        .await;
        let held = d.held().await;
        assert_eq!(held[0].reason, Some(HoldReason::TicketClosed));
        assert_eq!(held[0].ticket_number.as_ref(), Some(&t.number));
        assert_eq!(d.reload().await.status, TicketStatus::Closed);
    })
    .await;
}

/// With the receiving MTA named, a From address counts only with its
/// aligned pass: a forged reporter's reply stays with the desk, a forged
/// new request is held, and the real reporter (DMARC pass) is heard.
#[tokio::test]
async fn a_from_address_the_mta_does_not_vouch_for_is_nobodys_voice() {
    for_each_backend(|store| async move {
        let settings = Settings::new(1 << 20, KEY.to_vec(), own())
            .trusting(Some("mx.provider.example".into()));
        let d = Desk::with_settings(store, settings).await;
        let t = d.ticket.clone();
        d.store
            .classify(&t, TicketKind::Incident, d.w.dora, now())
            .await
            .unwrap();
        let t = d.reload().await;
        d.store
            .add_entry(&t, EntryKind::DeskQuestion, d.w.dora, "Welches Modell?", &[], now())
            .await
            .unwrap();
        let subject = format!("Re: [{}] Drucker", t.number);
        let forged = [
            ("", "f1@evil.example"),
            (
                "Authentication-Results: mx.provider.example; dmarc=fail header.from=acme.example\r\n",
                "f2@evil.example",
            ),
            // Written by the sender, not by our MTA.
            (
                "Authentication-Results: mx.evil.example; dmarc=pass header.from=acme.example\r\n",
                "f3@evil.example",
            ),
        ];
        for (headers, id) in forged {
            let raw = mail("ben@acme.example", &subject, id, headers, "Passwort: hunter2");
            assert_eq!(d.deliver(&raw).await, Delivered::Stored);
        }
        let from_mail = |entries: Vec<Entry>| {
            kinds(&entries)
                .into_iter()
                .filter(|k| matches!(k, EntryKind::Report | EntryKind::DeskMail))
                .collect::<Vec<_>>()
        };
        assert!(from_mail(d.customer_timeline().await).is_empty(), "the customer sees none");
        assert_eq!(
            from_mail(d.desk_timeline().await),
            [EntryKind::DeskMail, EntryKind::DeskMail, EntryKind::DeskMail]
        );
        assert_eq!(
            d.reload().await.status,
            TicketStatus::WaitingForCustomer,
            "no question was answered"
        );
        let raw = mail("ben@acme.example", "Neuer Monitor", "f4@evil.example", "", "Bitte.");
        d.deliver(&raw).await;
        let held = d.held().await;
        assert_eq!(held[0].reason, Some(HoldReason::UnverifiedSender));
        assert_eq!(d.my_open(d.w.ben).await.len(), 1, "no call was opened");

        let real = mail(
            "ben@acme.example",
            &subject,
            "r1@acme.example",
            "Authentication-Results: mx.provider.example;\r\n dkim=pass header.d=acme.example;\r\n \
             dmarc=pass (p=reject) header.from=acme.example\r\n",
            "Es ist das Modell LX-300.",
        );
        assert_eq!(d.deliver(&real).await, Delivered::Stored);
        let seen = d.customer_timeline().await;
        assert_eq!(from_mail(seen.clone()), [EntryKind::Report]);
        assert!(seen.iter().any(|e| e.body.contains("LX-300")));
    })
    .await;
}
