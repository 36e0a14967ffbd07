//! What storage promises about outgoing mail: a mail exists exactly when
//! its cause was committed, muted templates are recorded but not sent (the
//! solution always is), a claimed mail is claimed once, and a worker that
//! died leaves its mail to the next. On SQLite always, and on PostgreSQL
//! when a server is configured.
#![allow(clippy::unwrap_used)]

mod common;

use common::{T0, World, YEAR, for_each_backend, report};
use ticketwerk_domain::model::Ticket;
use ticketwerk_domain::notify::Template;
use ticketwerk_domain::{DomainError, EntryKind, TicketKind, TicketStatus};
use ticketwerk_storage::{MailState, OutboxMail, StorageError, Store};

async fn mails(store: &Store, ticket: &Ticket) -> Vec<(Template, i64, MailState)> {
    let mut all = store.outgoing_mails_of_ticket(ticket.id).await.unwrap();
    all.reverse();
    all.iter()
        .map(|m| (m.template, m.recipient_id, m.state))
        .collect()
}

async fn ticket(store: &Store, w: &World, by: i64, reported_for: i64) -> Ticket {
    let (id, _) = store
        .create_ticket(&report(w.acme, by, reported_for, "Drucker"), &[], YEAR, T0)
        .await
        .unwrap();
    store.ticket(id).await.unwrap().unwrap()
}

async fn drain(store: &Store, now: i64) -> Vec<OutboxMail> {
    let mut out = Vec::new();
    while let Some(m) = store.claim_mail(now, 60).await.unwrap() {
        store.mark_mail_sent(m.id, now).await.unwrap();
        out.push(m);
    }
    out
}

#[tokio::test]
async fn a_new_ticket_writes_its_receipt_mails() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let own = ticket(&store, &w, w.ben, w.ben).await;
        assert_eq!(
            mails(&store, &own).await,
            vec![(Template::TicketReceived, w.ben, MailState::Queued)]
        );
        let for_colleague = ticket(&store, &w, w.anna, w.carl).await;
        assert_eq!(
            mails(&store, &for_colleague).await,
            vec![
                (Template::TicketReceived, w.anna, MailState::Queued),
                (Template::TicketReceivedForYou, w.carl, MailState::Queued),
            ]
        );
        let by_desk = ticket(&store, &w, w.dora, w.ben).await;
        assert_eq!(
            mails(&store, &by_desk).await,
            vec![(Template::TicketReceived, w.ben, MailState::Queued)],
            "the desk is not mailed about its own work"
        );
        let m = &store.outgoing_mails_of_ticket(own.id).await.unwrap()[0];
        assert_eq!(m.recipient_email, "ben@acme.example");
    })
    .await;
}

#[tokio::test]
async fn a_refused_change_writes_no_mail() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        // Olga is not of Acme: the ticket is refused, and so is its mail.
        let refused = store
            .create_ticket(&report(w.acme, w.olga, w.olga, "x"), &[], YEAR, T0)
            .await;
        assert!(refused.is_err());
        let refused = store
            .create_ticket(&report(w.globex, w.ben, w.ben, "x"), &[], YEAR, T0)
            .await;
        assert!(refused.is_err());
        assert!(store.claim_mail(T0, 60).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_desk_s_question_solution_and_status_are_mailed_internal_notes_are_not() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let t = ticket(&store, &w, w.anna, w.carl).await;
        drain(&store, T0).await;
        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 1)
            .await
            .unwrap();
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .add_entry(&t, EntryKind::InternalNote, w.dora, "intern", &[], T0 + 2)
            .await
            .unwrap();
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .add_entry(&t, EntryKind::CustomerNote, w.carl, "Hinweis", &[], T0 + 3)
            .await
            .unwrap();
        assert!(
            store.claim_mail(T0 + 10, 60).await.unwrap().is_none(),
            "classification, internal notes and the customer's own notes mail no one"
        );
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .add_entry(
                &t,
                EntryKind::DeskQuestion,
                w.dora,
                "Welcher Drucker?",
                &[],
                T0 + 4,
            )
            .await
            .unwrap();
        let sent = drain(&store, T0 + 10).await;
        let got: Vec<_> = sent.iter().map(|m| (m.template, m.recipient_id)).collect();
        assert_eq!(
            got,
            vec![
                (Template::DeskQuestion, w.anna),
                (Template::DeskQuestion, w.carl)
            ]
        );
        let entry = sent[0].entry_id.unwrap();
        assert_eq!(
            store.entry_body(t.id, entry).await.unwrap().as_deref(),
            Some("Welcher Drucker?")
        );
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .add_entry(
                &t,
                EntryKind::Solution,
                w.dora,
                "Neu gestartet",
                &[],
                T0 + 5,
            )
            .await
            .unwrap();
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .set_status(&t, TicketStatus::Closed, w.dora, T0 + 6)
            .await
            .unwrap();
        let got: Vec<_> = drain(&store, T0 + 10)
            .await
            .iter()
            .map(|m| (m.template, m.recipient_id))
            .collect();
        assert_eq!(
            got,
            vec![
                (Template::Solution, w.anna),
                (Template::Solution, w.carl),
                (Template::StatusChanged, w.anna),
                (Template::StatusChanged, w.carl),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn muted_templates_are_recorded_not_sent_and_the_solution_cannot_be_muted() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let refused = store
            .set_muted_templates(w.ben, &[Template::StatusChanged, Template::Solution])
            .await;
        assert!(matches!(
            refused,
            Err(StorageError::Domain(DomainError::Invalid(_)))
        ));
        assert!(
            store.muted_templates(w.ben).await.unwrap().is_empty(),
            "nothing changed"
        );
        store
            .set_muted_templates(w.ben, &[Template::TicketReceived, Template::StatusChanged])
            .await
            .unwrap();
        assert_eq!(
            store.muted_templates(w.ben).await.unwrap(),
            vec![Template::StatusChanged, Template::TicketReceived]
        );
        let t = ticket(&store, &w, w.ben, w.ben).await;
        let all = store.outgoing_mails_of_ticket(t.id).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, MailState::Suppressed);
        assert_eq!(all[0].reason, "muted");
        assert!(store.claim_mail(T0 + 10, 60).await.unwrap().is_none());

        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 1)
            .await
            .unwrap();
        let t = store.ticket(t.id).await.unwrap().unwrap();
        store
            .add_entry(&t, EntryKind::Solution, w.dora, "Gelöst", &[], T0 + 2)
            .await
            .unwrap();
        let sent = drain(&store, T0 + 10).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].template,
            Template::Solution,
            "the solution always arrives"
        );
    })
    .await;
}

#[tokio::test]
async fn a_mail_is_claimed_once_and_a_dead_worker_s_mail_comes_back() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        ticket(&store, &w, w.ben, w.ben).await;
        assert!(
            store.claim_mail(T0 - 1, 60).await.unwrap().is_none(),
            "not due yet"
        );
        let first = store.claim_mail(T0, 60).await.unwrap().unwrap();
        assert_eq!(first.attempts, 1);
        assert!(
            store.claim_mail(T0 + 30, 60).await.unwrap().is_none(),
            "claimed: no second worker takes it while the lease runs"
        );
        // The worker died: after the lease another one takes it.
        let again = store.claim_mail(T0 + 61, 60).await.unwrap().unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.attempts, 2);
        store
            .retry_mail_at(again.id, "451 try later", T0 + 300)
            .await
            .unwrap();
        assert!(store.claim_mail(T0 + 299, 60).await.unwrap().is_none());
        let third = store.claim_mail(T0 + 300, 60).await.unwrap().unwrap();
        store
            .save_rendered_mail(third.id, "[x] y", "abc@example", "raw bytes")
            .await
            .unwrap();
        store.mark_mail_sent(third.id, T0 + 301).await.unwrap();
        assert!(store.claim_mail(T0 + 10_000, 60).await.unwrap().is_none());
        let kept = &store
            .outgoing_mails_of_ticket(third.ticket_id)
            .await
            .unwrap()[0];
        assert_eq!(kept.state, MailState::Sent);
        assert_eq!(kept.raw.as_deref(), Some("raw bytes"));
        assert_eq!(kept.message_id.as_deref(), Some("abc@example"));
        assert_eq!(
            store
                .mails_sent_to_since("ben@acme.example", T0 + 301)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .mails_sent_to_since("ben@acme.example", T0 + 302)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_mail() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        for _ in 0..20 {
            ticket(&store, &w, w.ben, w.ben).await;
        }
        let workers = (0..4).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(m) = store.claim_mail(T0, 600).await.unwrap() {
                    mine.push(m.id);
                }
                mine
            })
        });
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(before, all.len(), "a mail was claimed twice");
        assert_eq!(all.len(), 20);
    })
    .await;
}

#[tokio::test]
async fn the_installation_secret_is_made_once() {
    for_each_backend(|store| async move {
        let a = store.installation_secret("message_id_key").await.unwrap();
        let b = store.installation_secret("message_id_key").await.unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, b);
        assert_ne!(a, store.installation_secret("other").await.unwrap());
    })
    .await;
}
