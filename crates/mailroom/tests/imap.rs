//! The IMAP poller against a real dovecot on loopback: every message goes
//! to the inbox once and is marked done only after the inbox took it; a
//! temporary failure waits for the next poll, a permanent one is flagged
//! for a person; a crash between the inbox's commit and the marking ends
//! in a duplicate, not in a lost or doubled message; and of several
//! instances on one database only the lease holder polls.
//!
//! Runs with `TICKETWERK_TEST_IMAP=1` (see `dovecot/mod.rs`).
#![allow(clippy::unwrap_used)]

mod dovecot;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dovecot::{Dovecot, Mailbox, PASSWORD, Scheme};
use ticketwerk_mailroom::imap::{
    DONE_KEYWORD, ImapError, ImapSettings, LEASE_NAME, PollReport, REFUSED_KEYWORD, poll_once, run,
};
use ticketwerk_mailroom::{Delivered, DeliveryError, Inbox};
use ticketwerk_storage::Store;

// ---------------------------------------------------------------- helpers

/// What the test inbox does with one delivery of a message.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Temporary,
    Permanent,
    /// Commits, then the process "dies" before the poller hears back.
    CrashAfterCommit,
}

/// An inbox that, like the real one, stores a Message-ID once and answers
/// Duplicate after that; faults can be scripted per Message-ID.
#[derive(Default)]
struct TestInbox {
    stored: Mutex<Vec<String>>,
    attempts: Mutex<Vec<String>>,
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
}

impl TestInbox {
    fn fail(&self, id: &str, fault: Fault) {
        let mut faults = self.faults.lock().unwrap();
        faults.entry(id.to_string()).or_default().push_back(fault);
    }

    fn stored(&self) -> Vec<String> {
        self.stored.lock().unwrap().clone()
    }

    fn attempts(&self, id: &str) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| *a == id)
            .count()
    }
}

impl Inbox for TestInbox {
    async fn deliver(&self, raw: &[u8]) -> Result<Delivered, DeliveryError> {
        let id = message_id(raw);
        self.attempts.lock().unwrap().push(id.clone());
        let fault = self
            .faults
            .lock()
            .unwrap()
            .get_mut(&id)
            .and_then(VecDeque::pop_front);
        match fault {
            Some(Fault::Temporary) => {
                return Err(DeliveryError::Temporary("the database is away".into()));
            }
            Some(Fault::Permanent) => {
                return Err(DeliveryError::Permanent("larger than any limit".into()));
            }
            Some(Fault::CrashAfterCommit) => {
                self.stored.lock().unwrap().push(id);
                panic!("the instance dies after the inbox's commit");
            }
            None => {}
        }
        let mut stored = self.stored.lock().unwrap();
        if stored.contains(&id) {
            return Ok(Delivered::Duplicate);
        }
        stored.push(id);
        Ok(Delivered::Stored)
    }
}

fn message_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: <"))
        .and_then(|rest| rest.split('@').next())
        .expect("every test message has a Message-ID")
        .to_string()
}

/// A message from a customer with the Message-ID `<id@acme.example>`.
fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Anna Berg <anna@acme.example>\r\n\
         To: desk@provider.example\r\n\
         Subject: Drucker {id} druckt nicht\r\n\
         Message-ID: <{id}@acme.example>\r\n\
         Date: Thu, 01 Jan 2026 10:00:00 +0100\r\n\
         \r\n\
         Guten Tag, der Drucker im 2. OG druckt nicht.\r\n"
    )
    .into_bytes()
}

struct World {
    server: Dovecot,
    store: Store,
    settings: ImapSettings,
    _db: tempfile::TempDir,
}

impl World {
    async fn new(server: Dovecot) -> Self {
        let url = server.url(Scheme::Plain);
        let settings = ImapSettings::new(&url, Some(PASSWORD), 60).unwrap();
        Self::with_settings(server, settings).await
    }

    async fn with_settings(server: Dovecot, settings: ImapSettings) -> Self {
        let db = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", db.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        Self {
            server,
            store,
            settings,
            _db: db,
        }
    }

    async fn append(&self, ids: &[&str]) {
        let mut mailbox = Mailbox::open(&self.server).await;
        for id in ids {
            mailbox.append(&message(id), None).await;
        }
        mailbox.logout().await;
    }

    async fn poll(&self, inbox: &TestInbox) -> PollReport {
        poll_once(&self.settings, &self.store, inbox, "instance-a")
            .await
            .unwrap_or_else(|e| panic!("poll failed: {e:?}\n{}", self.server.logs()))
    }

    /// The flags of every message in the mailbox, in UID order.
    async fn flags(&self) -> Vec<Vec<String>> {
        let mut mailbox = Mailbox::open(&self.server).await;
        let flags = mailbox.flags().await;
        mailbox.logout().await;
        flags.into_iter().map(|(_, f)| f).collect()
    }
}

fn untouched() -> Vec<String> {
    Vec::new()
}

fn done() -> Vec<String> {
    vec![DONE_KEYWORD.to_string(), "\\Seen".to_string()]
}

fn refused() -> Vec<String> {
    vec![REFUSED_KEYWORD.to_string(), "\\Flagged".to_string()]
}

fn report(found: usize, stored: usize) -> PollReport {
    PollReport {
        polled: true,
        found,
        stored,
        ..PollReport::default()
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn every_message_is_delivered_once_and_marked_done() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let world = World::new(server).await;
    world.append(&["m1", "m2"]).await;
    // Someone read this one in a mail program already: it still counts.
    let mut mailbox = Mailbox::open(&world.server).await;
    mailbox.append(&message("m3"), Some("(\\Seen)")).await;
    mailbox.logout().await;
    let inbox = TestInbox::default();

    assert_eq!(world.poll(&inbox).await, report(3, 3));
    assert_eq!(inbox.stored(), ["m1", "m2", "m3"]);
    assert_eq!(world.flags().await, [done(), done(), done()]);

    // Nothing is waiting any more, and nothing is delivered twice.
    assert_eq!(world.poll(&inbox).await, report(0, 0));
    assert_eq!(inbox.attempts("m1"), 1);

    // Mail that arrives later is taken by the next poll.
    world.append(&["m4"]).await;
    assert_eq!(world.poll(&inbox).await, report(1, 1));
    assert_eq!(inbox.stored(), ["m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn a_temporary_failure_leaves_the_message_for_the_next_poll() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let world = World::new(server).await;
    world.append(&["m1", "m2"]).await;
    let inbox = TestInbox::default();
    inbox.fail("m1", Fault::Temporary);

    let first = world.poll(&inbox).await;
    assert_eq!((first.found, first.stored, first.temporary), (2, 1, 1));
    // Untouched, not even seen: the next poll takes it.
    assert_eq!(world.flags().await, [untouched(), done()]);

    assert_eq!(world.poll(&inbox).await, report(1, 1));
    assert_eq!(inbox.stored(), ["m2", "m1"]);
    assert_eq!(world.flags().await, [done(), done()]);
}

#[tokio::test]
async fn a_permanent_failure_is_flagged_for_a_person_and_not_tried_again() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let world = World::new(server).await;
    world.append(&["huge", "m2"]).await;
    let inbox = TestInbox::default();
    inbox.fail("huge", Fault::Permanent);

    let first = world.poll(&inbox).await;
    assert_eq!((first.found, first.stored, first.permanent), (2, 1, 1));
    // Flagged, and unread for whoever looks into the mailbox.
    assert_eq!(world.flags().await, [refused(), done()]);

    assert_eq!(world.poll(&inbox).await, report(0, 0));
    assert_eq!(inbox.attempts("huge"), 1);
    assert_eq!(inbox.stored(), ["m2"]);
}

#[tokio::test]
async fn a_crash_between_commit_and_marking_ends_in_a_duplicate_then_done() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let world = Arc::new(World::new(server).await);
    world.append(&["m1", "m2"]).await;
    let inbox = Arc::new(TestInbox::default());
    inbox.fail("m1", Fault::CrashAfterCommit);

    let crashed = tokio::spawn({
        let (world, inbox) = (world.clone(), inbox.clone());
        async move { world.poll(&inbox).await }
    })
    .await;
    assert!(crashed.unwrap_err().is_panic());
    // The inbox has m1, the mailbox does not know it: nothing is marked.
    assert_eq!(inbox.stored(), ["m1"]);
    assert_eq!(world.flags().await, [untouched(), untouched()]);

    let after = world.poll(&inbox).await;
    assert_eq!(
        (after.found, after.stored, after.duplicates),
        (2, 1, 1),
        "m1 again, known to the inbox; m2 new"
    );
    assert_eq!(inbox.stored(), ["m1", "m2"]);
    assert_eq!(world.flags().await, [done(), done()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_instances_on_one_database_only_the_lease_holder_polls() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let world = World::new(server).await;
    world.append(&["m1", "m2", "m3"]).await;
    let inbox = TestInbox::default();
    let (s, db) = (&world.settings, &world.store);

    let (a, b) = tokio::join!(
        poll_once(s, db, &inbox, "instance-a"),
        poll_once(s, db, &inbox, "instance-b"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.polled ^ b.polled, "exactly one polled: {a:?} {b:?}");
    assert_eq!(inbox.stored(), ["m1", "m2", "m3"]);
    assert_eq!(inbox.attempts("m1"), 1);

    // The lease stays with the one that polled, poll after poll.
    let (holder, other) = if a.polled {
        ("instance-a", "instance-b")
    } else {
        ("instance-b", "instance-a")
    };
    world.append(&["m4"]).await;
    assert!(!poll_once(s, db, &inbox, other).await.unwrap().polled);
    assert_eq!(
        poll_once(s, db, &inbox, holder).await.unwrap(),
        report(1, 1)
    );

    // Once the holder lets go (it stopped), the other takes over.
    db.release(LEASE_NAME, holder).await.unwrap();
    world.append(&["m5"]).await;
    assert_eq!(poll_once(s, db, &inbox, other).await.unwrap(), report(1, 1));
    assert_eq!(inbox.stored(), ["m1", "m2", "m3", "m4", "m5"]);
}

#[tokio::test]
async fn a_wrong_password_is_a_login_error_that_does_not_show_it() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let url = server.url(Scheme::Plain);
    let settings = ImapSettings::new(&url, Some("not-the-password"), 60).unwrap();
    let world = World::with_settings(server, settings).await;
    let inbox = TestInbox::default();

    let error = poll_once(&world.settings, &world.store, &inbox, "instance-a")
        .await
        .unwrap_err();
    assert!(matches!(error, ImapError::Login { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[tokio::test]
async fn run_polls_until_shutdown_and_then_gives_the_lease_up() {
    let Some(server) = Dovecot::plain() else {
        return;
    };
    let url = server.url(Scheme::Plain);
    let settings = ImapSettings::new(&url, Some(PASSWORD), 1).unwrap();
    let world = World::with_settings(server, settings).await;
    let inbox = Arc::new(TestInbox::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(run(
        world.settings.clone(),
        world.store.clone(),
        ArcInbox(inbox.clone()),
        "instance-a".to_string(),
        async move {
            let _ = stopped.await;
        },
    ));

    world.append(&["m1"]).await;
    wait_for(|| inbox.stored().len() == 1).await;
    world.append(&["m2"]).await;
    wait_for(|| inbox.stored().len() == 2).await;
    assert_eq!(
        world
            .store
            .lease_holder(LEASE_NAME)
            .await
            .unwrap()
            .unwrap()
            .0,
        "instance-a"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("the poller stops at once")
        .unwrap();
    assert_eq!(world.store.lease_holder(LEASE_NAME).await.unwrap(), None);
    assert_eq!(world.flags().await, [done(), done()]);
}

/// Lets a test keep its handle on the inbox that `run` owns.
struct ArcInbox(Arc<TestInbox>);

impl Inbox for ArcInbox {
    async fn deliver(&self, raw: &[u8]) -> Result<Delivered, DeliveryError> {
        self.0.deliver(raw).await
    }
}

async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s");
}

#[tokio::test]
async fn implicit_tls_and_starttls_with_the_servers_certificate() {
    let Some(server) = Dovecot::with_tls() else {
        return;
    };
    let certificate = server.certificate.clone().unwrap();
    let tls = ImapSettings::new(&server.url(Scheme::Tls), Some(PASSWORD), 60)
        .unwrap()
        .with_root_certificate(certificate.clone())
        .unwrap();
    let starttls = ImapSettings::new(&server.url(Scheme::StartTls), Some(PASSWORD), 60)
        .unwrap()
        .with_root_certificate(certificate)
        .unwrap();
    let world = World::with_settings(server, tls).await;
    let inbox = TestInbox::default();

    world.append(&["m1"]).await;
    assert_eq!(world.poll(&inbox).await, report(1, 1));
    world.append(&["m2"]).await;
    let by_starttls = poll_once(&starttls, &world.store, &inbox, "instance-a").await;
    assert_eq!(by_starttls.unwrap(), report(1, 1));
    assert_eq!(inbox.stored(), ["m1", "m2"]);

    // The poller's two logins came over TLS, as the server saw it (the
    // test's own mailbox client logs in without).
    let logins: Vec<String> = world
        .server
        .logs()
        .lines()
        .filter(|l| l.contains("Login: user=<desk@provider.example>"))
        .map(str::to_string)
        .collect();
    let over_tls = logins.iter().filter(|l| l.contains(", TLS")).count();
    assert_eq!(over_tls, 2, "{logins:#?}");
}

#[tokio::test]
async fn a_certificate_no_one_vouches_for_is_refused() {
    let Some(server) = Dovecot::with_tls() else {
        return;
    };
    for scheme in [Scheme::Tls, Scheme::StartTls] {
        // The system's roots only: the self-signed certificate is unknown.
        let settings = ImapSettings::new(&server.url(scheme), Some(PASSWORD), 60).unwrap();
        let db = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", db.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let inbox = TestInbox::default();

        let error = poll_once(&settings, &store, &inbox, "instance-a")
            .await
            .unwrap_err();
        assert!(
            matches!(error, ImapError::Tls { .. }),
            "{scheme:?}: {error:?}"
        );
    }
    let logins = server.logs().matches("Login: user=").count();
    assert_eq!(logins, 0, "no password went to an unverified server");
}
