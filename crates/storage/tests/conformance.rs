//! What Ticketwerk's storage promises, checked on SQLite always and on
//! PostgreSQL when `TICKETWERK_TEST_DATABASE_URL` names a server. Every test
//! gets a fresh database and passes time explicitly.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{T0, World, YEAR, for_each_backend, new_person, report};
use ticketwerk_domain::access::{Catalog, Scope, StatusFilter};
use ticketwerk_domain::auth::{
    THROTTLE_ACCOUNT_ADDRESS, generate_recovery_codes, hash_recovery_code, hash_token,
};
use ticketwerk_domain::model::{NewAttachment, Ticket, TicketSummary};
use ticketwerk_domain::{
    DomainError, Email, EntryKind, Impact, Priority, TicketKind, TicketNumber, TicketStatus,
    Urgency,
};
use ticketwerk_storage::{
    ColumnFilter, FileStore, SessionStage, SortKey, StorageError, Store, TicketQuery, TotpSetup,
};

// ---------------------------------------------------------------- helpers

/// The domain refusal inside a storage result; anything else fails the test.
#[track_caller]
fn refusal<T: std::fmt::Debug>(result: Result<T, StorageError>) -> DomainError {
    match result {
        Err(StorageError::Domain(e)) => e,
        other => panic!("expected a domain refusal, got {other:?}"),
    }
}

fn query(scope: Scope, status: StatusFilter) -> TicketQuery {
    TicketQuery {
        columns: Default::default(),
        scope,
        status,
        sort: SortKey::Number,
        descending: false,
        search: None,
        after: None,
        limit: 100,
    }
}

/// The numbers of one list, in number order.
async fn listed(store: &Store, scope: Scope, status: StatusFilter) -> Vec<String> {
    let page = store.list_tickets(&query(scope, status)).await.unwrap();
    assert!(page.next.is_none(), "small lists fit one page");
    page.items
        .into_iter()
        .map(|t| t.number.to_string())
        .collect()
}

/// The numbers a quick search over all open tickets finds.
async fn found(store: &Store, search: &str) -> Vec<String> {
    let q = TicketQuery {
        columns: Default::default(),
        search: Some(search.to_string()),
        ..query(Scope::All, StatusFilter::Open)
    };
    store
        .list_tickets(&q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.number.to_string())
        .collect()
}

async fn reload(store: &Store, number: &TicketNumber) -> Ticket {
    store
        .ticket_by_number(number)
        .await
        .unwrap()
        .expect("the ticket exists")
}

async fn open_ticket(store: &Store, w: &World, short_text: &str, now: i64) -> Ticket {
    let (_, number) = store
        .create_ticket(&report(w.acme, w.anna, w.anna, short_text), &[], YEAR, now)
        .await
        .unwrap();
    reload(store, &number).await
}

/// Solves a ticket the way the desk must: a call is classified first.
async fn solve(store: &Store, w: &World, t: &Ticket, now: i64) -> Ticket {
    let mut t = reload(store, &t.number).await;
    if t.kind == TicketKind::Call {
        store
            .classify(&t, TicketKind::Incident, w.dora, now)
            .await
            .unwrap();
        t = reload(store, &t.number).await;
    }
    if t.status != TicketStatus::Solved {
        store
            .add_entry(&t, EntryKind::Solution, w.dora, "Solved", &[], now)
            .await
            .unwrap();
    }
    reload(store, &t.number).await
}

/// Closes a ticket the way the desk must: classified, solved, closed.
async fn close(store: &Store, w: &World, t: &Ticket, now: i64) -> Ticket {
    let t = solve(store, w, t, now).await;
    store
        .set_status(&t, TicketStatus::Closed, w.dora, now)
        .await
        .unwrap();
    reload(store, &t.number).await
}

fn file(name: &str, key: &str) -> NewAttachment {
    NewAttachment {
        file_name: name.to_string(),
        content_type: "application/octet-stream".to_string(),
        size: 42,
        storage_key: key.to_string(),
    }
}

fn kinds_of(entries: &[ticketwerk_domain::model::Entry]) -> Vec<EntryKind> {
    entries.iter().map(|e| e.kind).collect()
}

fn customer_kinds() -> Vec<EntryKind> {
    EntryKind::customer_visible_kinds().collect()
}

// ------------------------------------------------ partners, persons, viewers

#[tokio::test]
async fn business_partners_and_persons_are_stored_once() {
    for_each_backend(|store| async move {
        let acme = store
            .create_business_partner(" 10001 ", " Acme GmbH ", T0)
            .await
            .unwrap();
        let bp = store
            .business_partner_by_number("10001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (bp.id, bp.customer_number.as_str(), bp.name.as_str()),
            (acme, "10001", "Acme GmbH")
        );
        assert!(
            store
                .business_partner_by_number("99999")
                .await
                .unwrap()
                .is_none()
        );
        // Typed in another case: found while it names one partner only.
        let lower = store
            .create_business_partner("K-7", "Klein", T0)
            .await
            .unwrap();
        let found = store.business_partner_by_number(" k-7 ").await.unwrap();
        assert_eq!(found.map(|p| p.id), Some(lower));
        store
            .create_business_partner("k-7", "Klein 2", T0)
            .await
            .unwrap();
        let exact = store.business_partner_by_number("k-7").await.unwrap();
        assert_eq!(exact.map(|p| p.name), Some("Klein 2".to_string()));
        assert!(
            store
                .business_partner_by_number("K-7 ")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            refusal(
                store
                    .create_business_partner("10001", "Acme again", T0)
                    .await
            ),
            DomainError::invalid("customer_number", "customer_number_taken"),
        );

        let mut anna = new_person(" Anna.Berg@Acme.Example ", "  Anna Berg ", false);
        anna.password_hash = Some("$argon2id$first".to_string());
        let id = store.create_person(&anna, T0).await.unwrap();
        let person = store.person(id).await.unwrap().unwrap();
        assert_eq!(person.email.as_str(), "anna.berg@acme.example");
        assert_eq!(person.name, "Anna Berg");
        assert!(person.active && !person.agent);

        // The same address typed differently is the same person.
        let again = new_person("ANNA.BERG@acme.example", "Someone Else", false);
        assert_eq!(
            refusal(store.create_person(&again, T0).await),
            DomainError::invalid("email", "email_taken"),
        );

        let email = Email::parse("anna.berg@ACME.example").unwrap();
        let creds = store.credentials(&email).await.unwrap().unwrap();
        assert_eq!(creds.person.id, id);
        assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$first"));
        store.set_password(id, "$argon2id$second").await.unwrap();
        let creds = store.credentials_by_id(id).await.unwrap().unwrap();
        assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$second"));

        assert!(store.person(id + 1000).await.unwrap().is_none());
        assert!(store.credentials_by_id(id + 1000).await.unwrap().is_none());
        let stranger = Email::parse("nobody@acme.example").unwrap();
        assert!(store.credentials(&stranger).await.unwrap().is_none());

        store
            .audit(T0, Some(id), "sign_in", "from 192.0.2.1")
            .await
            .unwrap();
        store.audit(T0, None, "sign_in_failed", "").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn memberships_make_the_viewer() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;

        let anna = store.viewer(w.anna).await.unwrap().unwrap();
        assert_eq!(anna.person, w.anna);
        assert!(!anna.agent);
        assert!(anna.is_authorised_for(w.acme) && !anna.is_member_of(w.globex));

        let ben = store.viewer(w.ben).await.unwrap().unwrap();
        assert!(ben.is_member_of(w.acme) && !ben.is_authorised_for(w.acme));

        let dora = store.viewer(w.dora).await.unwrap().unwrap();
        assert!(dora.agent && dora.memberships.is_empty());
        assert!(store.viewer(w.dora + 1000).await.unwrap().is_none());

        // Anna also helps out at Globex, without authority there.
        store.add_membership(w.anna, w.globex, false).await.unwrap();
        let anna = store.viewer(w.anna).await.unwrap().unwrap();
        let partners: Vec<_> = anna
            .memberships
            .iter()
            .map(|m| (m.business_partner, m.authorised))
            .collect();
        assert_eq!(partners, vec![(w.acme, true), (w.globex, false)]);
        assert!(
            store.add_membership(w.anna, w.globex, true).await.is_err(),
            "no second one"
        );

        assert!(store.is_member(w.anna, w.globex).await.unwrap());
        assert!(!store.is_member(w.olga, w.acme).await.unwrap());
        let names: Vec<_> = store
            .business_partners_of(w.anna)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["Acme GmbH", "Globex AG"]);

        store
            .create_service(w.acme, " Mail ", "Exchange")
            .await
            .unwrap();
        store.create_service(w.acme, "Backup", "").await.unwrap();
        store
            .create_system(w.acme, "laptop", "ACM-2", "INV-2", Some(w.ben))
            .await
            .unwrap();
        store
            .create_system(w.acme, "printer", "ACM-1", "", None)
            .await
            .unwrap();
        let services: Vec<_> = store
            .services_of(w.acme)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(services, ["Backup", "Mail"]);
        let systems: Vec<_> = store
            .systems_of(w.acme)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(systems, ["ACM-1", "ACM-2"]);
        assert!(store.services_of(w.globex).await.unwrap().is_empty());
    })
    .await;
}

// --------------------------------------------------------- creating tickets

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_creations_get_unique_consecutive_numbers() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                let new = report(w.acme, w.anna, w.anna, &format!("Rush hour {i}"));
                tokio::spawn(async move { store.create_ticket(&new, &[], YEAR, T0 + i).await })
            })
            .collect();
        let mut numbers = Vec::new();
        for task in tasks {
            let (_, number) = task.await.unwrap().expect("every creation succeeds");
            numbers.push(number);
        }
        numbers.sort();
        let expected: Vec<_> = (1..=40).map(|n| TicketNumber::new(YEAR, n)).collect();
        assert_eq!(numbers, expected, "unique and without gaps");

        for number in &numbers {
            let text = number.as_str();
            assert!(
                text.len() == 11 && text.starts_with("2026-"),
                "{text} reads YYYY-NNNNNN"
            );
            let typed: TicketNumber = text.parse().unwrap();
            assert_eq!(reload(&store, &typed).await.number, *number);
        }
        assert_eq!(numbers[39].as_str(), "2026-000040");

        // A new year counts from one again.
        let next = report(w.acme, w.anna, w.anna, "Happy new year");
        let (_, number) = store.create_ticket(&next, &[], YEAR + 1, T0).await.unwrap();
        assert_eq!(number.as_str(), "2027-000001");
    })
    .await;
}

#[tokio::test]
async fn tickets_refer_only_to_services_and_systems_of_their_partner() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let globex_mail = store.create_service(w.globex, "Mail", "").await.unwrap();
        let globex_pc = store
            .create_system(w.globex, "pc", "GLX-7", "", None)
            .await
            .unwrap();
        let acme_mail = store.create_service(w.acme, "Mail", "").await.unwrap();
        let acme_pc = store
            .create_system(w.acme, "pc", "ACM-7", "", None)
            .await
            .unwrap();
        let screenshot = [file("screen.png", "key-screen")];

        let mut new = report(w.acme, w.anna, w.anna, "Mail is down");
        new.service_id = Some(globex_mail);
        assert_eq!(
            refusal(store.create_ticket(&new, &screenshot, YEAR, T0).await),
            DomainError::invalid("service_id", "unknown_choice"),
        );
        new.service_id = Some(acme_mail);
        new.system_id = Some(globex_pc);
        assert_eq!(
            refusal(store.create_ticket(&new, &screenshot, YEAR, T0).await),
            DomainError::invalid("system_id", "unknown_choice"),
        );
        new.system_id = Some(acme_pc + 1000);
        assert_eq!(
            refusal(store.create_ticket(&new, &screenshot, YEAR, T0).await),
            DomainError::invalid("system_id", "unknown_choice"),
        );

        // Nothing was written: no ticket, no attachment, no number used up.
        assert!(
            listed(&store, Scope::All, StatusFilter::Open)
                .await
                .is_empty()
        );
        new.system_id = Some(acme_pc);
        new.short_text = "  Mail is down  ".to_string();
        new.reference = "PO-1".to_string();
        new.impact = Impact::Department;
        new.urgency = Urgency::CannotWork;
        let (id, number) = store
            .create_ticket(&new, &screenshot, YEAR, T0)
            .await
            .unwrap();
        assert_eq!(number, TicketNumber::new(YEAR, 1));

        let t = reload(&store, &number).await;
        assert_eq!(t.id, id);
        assert_eq!((t.kind, t.status), (TicketKind::Call, TicketStatus::New));
        assert_eq!(t.short_text, "Mail is down");
        assert_eq!(t.reference, "PO-1");
        assert_eq!(
            t.priority,
            Priority::from_matrix(Impact::Department, Urgency::CannotWork)
        );
        assert_eq!(
            (t.business_partner_name.as_str(), t.customer_number.as_str()),
            ("Acme GmbH", "10001")
        );
        assert_eq!(
            (t.reported_by_name.as_str(), t.reported_for_name.as_str()),
            ("Anna Berg", "Anna Berg")
        );
        assert_eq!(
            (t.service_id, t.service_name.as_deref()),
            (Some(acme_mail), Some("Mail"))
        );
        assert_eq!(
            (t.system_id, t.system_name.as_deref()),
            (Some(acme_pc), Some("ACM-7"))
        );
        assert_eq!((t.created_at, t.updated_at), (T0, T0));

        let files = store.attachments(id, &customer_kinds()).await.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].file_name.as_str(), files[0].entry_id),
            ("screen.png", None)
        );

        // Systems assigned later obey the same rule.
        assert_eq!(
            refusal(
                store
                    .assign_system(&t, Some(globex_pc), w.anna, T0 + 60)
                    .await
            ),
            DomainError::invalid("system_id", "unknown_choice"),
        );
        assert_eq!(reload(&store, &number).await.system_id, Some(acme_pc));
    })
    .await;
}

// ---------------------------------------------------------------- ticket lists

#[tokio::test]
async fn lists_show_each_person_what_is_theirs() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let create = |by, reported_for, bp, text: &'static str| {
            let store = store.clone();
            async move {
                let new = report(bp, by, reported_for, text);
                store.create_ticket(&new, &[], YEAR, T0).await.unwrap().1
            }
        };
        let annas = create(w.anna, w.anna, w.acme, "Anna's own").await;
        let for_ben = create(w.anna, w.ben, w.acme, "Anna for Ben").await;
        let bens = create(w.ben, w.ben, w.acme, "Ben's own").await;
        let carls = create(w.carl, w.carl, w.acme, "Carl's own").await;
        let olgas = create(w.olga, w.olga, w.globex, "Olga's own").await;

        let catalog = |person, which| {
            let store = store.clone();
            async move {
                let viewer = store.viewer(person).await.unwrap().unwrap();
                match viewer.catalog(which, None) {
                    Some((scope, status)) => Some(listed(&store, scope, status).await),
                    None => None,
                }
            }
        };

        // Involving: reported by or for the person, within their partners.
        let ben_mine = catalog(w.ben, Catalog::MyOpen).await.unwrap();
        assert_eq!(ben_mine, [for_ben.as_str(), bens.as_str()]);
        let anna_mine = catalog(w.anna, Catalog::MyOpen).await.unwrap();
        assert_eq!(anna_mine, [annas.as_str(), for_ben.as_str()]);

        // Partners: all of the partner, for the authorised only.
        let anna_partner = catalog(w.anna, Catalog::PartnerOpen).await.unwrap();
        assert_eq!(
            anna_partner,
            [
                annas.as_str(),
                for_ben.as_str(),
                bens.as_str(),
                carls.as_str()
            ]
        );
        assert_eq!(catalog(w.carl, Catalog::PartnerOpen).await, None);

        // A person of another business partner sees nothing of Acme.
        assert_eq!(
            catalog(w.olga, Catalog::MyOpen).await.unwrap(),
            [olgas.as_str()]
        );
        assert_eq!(
            catalog(w.olga, Catalog::PartnerOpen).await.unwrap(),
            [olgas.as_str()]
        );
        let olga_in_acme = Scope::Involving {
            person: w.olga,
            partners: vec![w.acme],
        };
        assert!(
            listed(&store, olga_in_acme, StatusFilter::Open)
                .await
                .is_empty()
        );
        let anna_in_globex = Scope::Involving {
            person: w.anna,
            partners: vec![w.globex],
        };
        assert!(
            listed(&store, anna_in_globex, StatusFilter::Open)
                .await
                .is_empty()
        );
        let nowhere = Scope::Involving {
            person: w.anna,
            partners: vec![],
        };
        assert!(listed(&store, nowhere, StatusFilter::Open).await.is_empty());
        assert!(
            listed(&store, Scope::Partners(vec![]), StatusFilter::Open)
                .await
                .is_empty()
        );

        // The desk sees everything.
        let desk = catalog(w.dora, Catalog::DeskOpen).await.unwrap();
        assert_eq!(
            desk,
            [annas, for_ben, bens, carls, olgas].map(|n| n.to_string())
        );
    })
    .await;
}

#[tokio::test]
async fn lists_filter_open_closed_and_new_calls() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let fresh = open_ticket(&store, &w, "Still a new call", T0).await;
        let classified = open_ticket(&store, &w, "Classified", T0).await;
        let worked_call = open_ticket(&store, &w, "Call in progress", T0).await;
        let solved = open_ticket(&store, &w, "Solved", T0).await;
        let closed = open_ticket(&store, &w, "Closed", T0).await;

        store
            .classify(&classified, TicketKind::Incident, w.dora, T0 + 1)
            .await
            .unwrap();
        store
            .set_status(&worked_call, TicketStatus::InProgress, w.dora, T0 + 1)
            .await
            .unwrap();
        solve(&store, &w, &solved, T0 + 1).await;
        close(&store, &w, &closed, T0 + 1).await;

        let all = || Scope::Partners(vec![w.acme]);
        assert_eq!(
            listed(&store, all(), StatusFilter::Open).await,
            [&fresh, &classified, &worked_call, &solved].map(|t| t.number.as_str()),
        );
        assert_eq!(
            listed(&store, all(), StatusFilter::Closed).await,
            [closed.number.as_str()]
        );
        assert_eq!(
            listed(&store, Scope::All, StatusFilter::NewCalls).await,
            [fresh.number.as_str()]
        );
    })
    .await;
}

/// The sort value of a row as the list orders it, for checking the order.
fn sort_value(key: SortKey, t: &TicketSummary) -> (i64, String) {
    match key {
        SortKey::Updated => (t.updated_at, String::new()),
        SortKey::Created => (t.created_at, String::new()),
        SortKey::Priority => (i64::from(t.priority.level()), String::new()),
        SortKey::Number => (0, t.number.to_string()),
        SortKey::Status => (0, t.status.code().to_string()),
        SortKey::ShortText => (0, t.short_text.clone()),
    }
}

#[tokio::test]
async fn keyset_paging_walks_every_row_exactly_once() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        // 25 tickets where every sort key has runs of equal values that
        // straddle page boundaries. The short texts and status codes sort
        // the same in every collation.
        let mut ids = HashSet::new();
        for i in 0..25_i64 {
            let mut new = report(
                w.acme,
                w.anna,
                w.ben,
                ["alpha", "beta", "gamma"][(i % 3) as usize],
            );
            new.impact = [Impact::Company, Impact::Department, Impact::Person][(i % 3) as usize];
            new.urgency = [Urgency::CannotWork, Urgency::CanWork][(i / 3 % 2) as usize];
            let created = T0 + i / 4 * 60;
            let (id, number) = store.create_ticket(&new, &[], YEAR, created).await.unwrap();
            ids.insert(id);
            let t = reload(&store, &number).await;
            let later = T0 + 3600 + i % 5 * 60;
            match i % 4 {
                0 => {}
                1 => store
                    .classify(&t, TicketKind::Incident, w.dora, later)
                    .await
                    .unwrap(),
                2 => {
                    let body = "Which floor?";
                    store
                        .add_entry(&t, EntryKind::DeskQuestion, w.dora, body, &[], later)
                        .await
                        .unwrap();
                }
                _ => {
                    solve(&store, &w, &t, later).await;
                }
            }
        }

        for &sort in SortKey::ALL {
            for descending in [false, true] {
                let base = TicketQuery {
                    columns: Default::default(),
                    sort,
                    descending,
                    ..query(Scope::Partners(vec![w.acme]), StatusFilter::Open)
                };
                let everything = store.list_tickets(&base).await.unwrap().items;
                for limit in [7, 5] {
                    let case = format!("{sort:?}, descending {descending}, pages of {limit}");
                    let mut walked: Vec<TicketSummary> = Vec::new();
                    let mut page_sizes = Vec::new();
                    let mut after = None;
                    loop {
                        let q = TicketQuery {
                            columns: Default::default(),
                            after: after.take(),
                            limit,
                            ..base.clone()
                        };
                        let page = store.list_tickets(&q).await.unwrap();
                        page_sizes.push(page.items.len());
                        walked.extend(page.items);
                        match page.next {
                            Some(cursor) => after = Some(cursor),
                            None => break,
                        }
                        assert!(page_sizes.len() < 10, "{case}: paging does not end");
                    }

                    let expected_sizes = if limit == 7 {
                        vec![7, 7, 7, 4]
                    } else {
                        vec![5; 5]
                    };
                    assert_eq!(page_sizes, expected_sizes, "{case}");
                    let walked_ids: Vec<_> = walked.iter().map(|t| t.id).collect();
                    let unique: HashSet<_> = walked_ids.iter().copied().collect();
                    assert_eq!(unique.len(), walked_ids.len(), "{case}: duplicates");
                    assert_eq!(unique, ids, "{case}: gaps");
                    let unpaged: Vec<_> = everything.iter().map(|t| t.id).collect();
                    assert_eq!(walked_ids, unpaged, "{case}: pages differ from the whole");
                    for pair in walked.windows(2) {
                        let a = (sort_value(sort, &pair[0]), pair[0].id);
                        let b = (sort_value(sort, &pair[1]), pair[1].id);
                        assert!(
                            if descending { a > b } else { a < b },
                            "{case}: {a:?} {b:?}"
                        );
                    }
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn quick_search_finds_number_short_text_and_reference() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let create = |short_text: &'static str, reference: &'static str| {
            let store = store.clone();
            async move {
                let mut new = report(w.acme, w.anna, w.anna, short_text);
                new.reference = reference.to_string();
                store.create_ticket(&new, &[], YEAR, T0).await.unwrap().1
            }
        };
        let printer = create("Printer jams on floor 3", "PO-4711").await;
        let vpn = create("VPN drops 100% of packets", "").await;
        let mail = create("Mail_Server slow", "ref_2").await;
        let quiet = create("Nothing special", "CASE-9").await;
        let _lookalike = create("Mailxserver broken", "").await;
        let _percent = create("100 percent uptime wanted", "").await;
        let heat = create("Überhitzung im Serverraum", "ÄNDERUNG-7").await;

        assert_eq!(found(&store, "printer").await, [printer.as_str()]);
        assert_eq!(found(&store, "PRINTER JAMS").await, [printer.as_str()]);
        assert_eq!(found(&store, "  Printer  ").await, [printer.as_str()]);
        assert_eq!(found(&store, "po-4711").await, [printer.as_str()]);
        assert_eq!(found(&store, "case-9").await, [quiet.as_str()]);
        assert_eq!(found(&store, quiet.as_str()).await, [quiet.as_str()]);
        assert_eq!(found(&store, &quiet.as_str()[5..]).await, [quiet.as_str()]);

        // % and _ are characters, not wildcards.
        assert_eq!(found(&store, "100%").await, [vpn.as_str()]);
        assert_eq!(found(&store, "%").await, [vpn.as_str()]);
        assert_eq!(found(&store, "MAIL_SERVER").await, [mail.as_str()]);
        assert_eq!(found(&store, "_").await, [mail.as_str()]);
        assert!(found(&store, "\\").await.is_empty());
        assert!(found(&store, "zzz").await.is_empty());

        // Case is ignored beyond ASCII too: this is a German service desk.
        assert_eq!(found(&store, "überhitzung").await, [heat.as_str()]);
        assert_eq!(found(&store, "SERVERRAUM").await, [heat.as_str()]);
        assert_eq!(found(&store, "ÜBERHITZUNG IM").await, [heat.as_str()]);
        assert_eq!(found(&store, "änderung-7").await, [heat.as_str()]);
        assert_eq!(
            found(&store, "   ").await.len(),
            7,
            "a blank search is no search"
        );

        // Search never widens the scope.
        let bens = Scope::Involving {
            person: w.ben,
            partners: vec![w.acme],
        };
        let q = TicketQuery {
            columns: Default::default(),
            search: Some("printer".to_string()),
            ..query(bens, StatusFilter::Open)
        };
        assert!(store.list_tickets(&q).await.unwrap().items.is_empty());
    })
    .await;
}

/// The numbers a quick search over all tickets with the given status finds.
async fn found_in(store: &Store, status: StatusFilter, search: &str) -> Vec<String> {
    let q = TicketQuery {
        columns: Default::default(),
        search: Some(search.to_string()),
        ..query(Scope::All, status)
    };
    let page = store.list_tickets(&q).await.unwrap();
    page.items
        .into_iter()
        .map(|t| t.number.to_string())
        .collect()
}

#[tokio::test]
async fn quick_search_follows_edits_of_the_report() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let call = open_ticket(&store, &w, "Scanner offline", T0).await;
        let other = open_ticket(&store, &w, "Scanner slow", T0).await;
        let (call_no, other_no) = (call.number.as_str(), other.number.as_str());
        assert_eq!(found(&store, "offline").await, [call_no]);
        assert_eq!(found(&store, "scanner").await, [call_no, other_no]);

        store
            .edit_report(&call, "Plotter jammed", "Paper everywhere", w.anna, T0 + 10)
            .await
            .unwrap();
        assert!(
            found(&store, "offline").await.is_empty(),
            "the old text is gone"
        );
        assert_eq!(found(&store, "scanner").await, [other_no]);
        assert_eq!(found(&store, "PLOTTER JAM").await, [call_no]);
        assert!(
            found(&store, "everywhere").await.is_empty(),
            "the description is not searched"
        );

        // Changes of other columns leave the index as it was …
        let t = reload(&store, &call.number).await;
        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 20)
            .await
            .unwrap();
        assert_eq!(found(&store, "jammed").await, [call_no]);
        // … and closing moves the ticket from one list to the other.
        close(&store, &w, &call, T0 + 30).await;
        assert!(found(&store, "jammed").await.is_empty());
        assert_eq!(
            found_in(&store, StatusFilter::Closed, "jammed").await,
            [call_no]
        );
        assert_eq!(
            found_in(&store, StatusFilter::NewCalls, "scanner").await,
            [other_no]
        );
        assert!(
            found_in(&store, StatusFilter::NewCalls, "plotter")
                .await
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn quick_search_of_one_or_two_characters_and_special_ones() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let create = |short_text: &'static str, reference: &'static str| {
            let store = store.clone();
            async move {
                let mut new = report(w.acme, w.anna, w.anna, short_text);
                new.reference = reference.to_string();
                store.create_ticket(&new, &[], YEAR, T0).await.unwrap().1
            }
        };
        let oil = create("Ölwechsel fällig", "").await;
        let temp = create("Log voll", r"C:\Temp\X_1").await;
        let quote = create(r#"Fehler "Disk full" AND (NOT) *"#, "").await;
        let plain = create("Drucker 4", "Q").await;
        let (oil, temp, quote, plain) =
            (oil.as_str(), temp.as_str(), quote.as_str(), plain.as_str());

        assert_eq!(found(&store, "ö").await, [oil]);
        assert_eq!(found(&store, "Ö").await, [oil]);
        assert_eq!(found(&store, "ÖL").await, [oil]);
        assert_eq!(found(&store, "ä").await, [oil]);
        assert_eq!(found(&store, "q").await, [plain]);
        assert_eq!(found(&store, "4").await, [plain]);
        assert_eq!(found(&store, "r 4").await, [plain]);
        assert_eq!(found(&store, "lo").await, [temp]);
        assert_eq!(found(&store, "x_").await, [temp]);
        assert_eq!(found(&store, "_").await, [temp]);
        assert_eq!(found(&store, r"\").await, [temp]);
        assert_eq!(found(&store, r":\").await, [temp]);
        assert_eq!(found(&store, r"c:\temp\x_1").await, [temp]);
        assert_eq!(found(&store, r"\TEMP\").await, [temp]);
        assert!(found(&store, r"c:_temp").await.is_empty());
        assert!(found(&store, r"c:%temp").await.is_empty());
        assert!(found(&store, r"\temp%").await.is_empty());
        assert!(found(&store, "x_2").await.is_empty());

        // Quotes and operators are text, never query syntax.
        assert_eq!(found(&store, r#""disk full""#).await, [quote]);
        assert_eq!(found(&store, r#"r "d"#).await, [quote]);
        assert_eq!(found(&store, "AND (NOT) *").await, [quote]);
        assert_eq!(found(&store, "\"").await, [quote]);
        assert!(found(&store, "disk AND full").await.is_empty());
        assert!(found(&store, r#""""#).await.is_empty());
        assert!(found(&store, "NEAR(a b)").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn quick_search_ignores_case_in_every_script() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let create = |short_text: String| {
            let store = store.clone();
            async move {
                let new = report(w.acme, w.anna, w.anna, &short_text);
                store.create_ticket(&new, &[], YEAR, T0).await.unwrap().1
            }
        };
        let greek = create("ΣΎΣΤΗΜΑ ΕΚΤΌΣ".to_string()).await;
        let cyrillic = create("ПРИНТЕР НЕ ПЕЧАТАЕТ".to_string()).await;
        // Georgian capitals (Mtavruli) came with Unicode 11, after the
        // tables of SQLite's trigram tokenizer.
        let georgian = create("ᲒᲐᲛᲐᲠᲯᲝᲑᲐ Welt".to_string()).await;
        assert_eq!(found(&store, "σύστημα").await, [greek.as_str()]);
        assert_eq!(found(&store, "ύστημα εκ").await, [greek.as_str()]);
        assert_eq!(found(&store, "принтер не").await, [cyrillic.as_str()]);
        assert_eq!(found(&store, "გამარჯობა").await, [georgian.as_str()]);
        assert_eq!(found(&store, "ᲒᲐᲛ").await, [georgian.as_str()]);
        assert_eq!(found(&store, "ობა we").await, [georgian.as_str()]);
        assert_eq!(found(&store, "ა welt").await, [georgian.as_str()]);

        // Every capital of Latin, Greek and Cyrillic that has a small letter
        // of its own is found by that small letter, in runs of twenty.
        let capitals: Vec<char> = ('\u{c0}'..='\u{4ff}')
            .filter(|c| {
                let mut small = c.to_lowercase();
                match (small.next(), small.next()) {
                    (Some(s), None) => s != *c && s.to_uppercase().eq([*c]),
                    _ => false,
                }
            })
            .collect();
        assert!(capitals.len() > 300, "{}", capitals.len());
        let mut expected = Vec::new();
        for run in capitals.chunks(20) {
            let text: String = run.iter().collect();
            expected.push((create(text.clone()).await, text.to_lowercase()));
        }
        for (number, small) in &expected {
            assert_eq!(found(&store, small).await, [number.as_str()], "{small}");
        }
    })
    .await;
}

#[tokio::test]
async fn quick_search_of_all_tickets_pages_like_the_list() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        for i in 0..12 {
            let text = if i % 3 == 0 {
                "Kaffeemaschine kaputt"
            } else {
                "Monitor flackert"
            };
            let (_, number) = store
                .create_ticket(&report(w.acme, w.anna, w.anna, text), &[], YEAR, T0 + i)
                .await
                .unwrap();
            if i % 4 == 0 {
                let t = reload(&store, &number).await;
                store
                    .set_status(&t, TicketStatus::InProgress, w.dora, T0 + 100 - i)
                    .await
                    .unwrap();
            }
        }
        for &sort in SortKey::ALL {
            for descending in [false, true] {
                let base = TicketQuery {
                    columns: Default::default(),
                    sort,
                    descending,
                    search: Some("MONITOR".to_string()),
                    ..query(Scope::All, StatusFilter::Open)
                };
                let whole: Vec<_> = store
                    .list_tickets(&base)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|t| t.id)
                    .collect();
                assert_eq!(whole.len(), 8);
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let q = TicketQuery {
                        columns: Default::default(),
                        after: after.take(),
                        limit: 3,
                        ..base.clone()
                    };
                    let page = store.list_tickets(&q).await.unwrap();
                    walked.extend(page.items.iter().map(|t| t.id));
                    match page.next {
                        Some(cursor) => after = Some(cursor),
                        None => break,
                    }
                }
                assert_eq!(walked, whole, "{sort:?}, descending {descending}");
            }
        }
    })
    .await;
}

// ------------------------------------------------------------------ timelines

#[tokio::test]
async fn customers_never_see_internal_notes_or_their_files() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let new = report(w.acme, w.anna, w.anna, "Laptop is slow");
        let report_file = [file("report.txt", "k-report")];
        let (id, number) = store
            .create_ticket(&new, &report_file, YEAR, T0)
            .await
            .unwrap();
        let t = reload(&store, &number).await;
        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 10)
            .await
            .unwrap();
        let t = reload(&store, &number).await;
        let secret = [file("internal.log", "k-internal")];
        store
            .add_entry(
                &t,
                EntryKind::InternalNote,
                w.dora,
                "Customer broke it",
                &secret,
                T0 + 20,
            )
            .await
            .unwrap();
        let shot = [file("how-to.png", "k-howto")];
        store
            .add_entry(
                &t,
                EntryKind::DeskQuestion,
                w.dora,
                "Did you reboot?",
                &shot,
                T0 + 30,
            )
            .await
            .unwrap();
        let t = reload(&store, &number).await;
        let reply = [file("reboot.jpg", "k-reboot")];
        store
            .add_entry(
                &t,
                EntryKind::CustomerNote,
                w.anna,
                "Yes, twice.",
                &reply,
                T0 + 40,
            )
            .await
            .unwrap();

        let anna = store.viewer(w.anna).await.unwrap().unwrap();
        let dora = store.viewer(w.dora).await.unwrap().unwrap();
        for kinds in [customer_kinds(), anna.visible_entry_kinds()] {
            let timeline = store.entries(id, &kinds).await.unwrap();
            assert!(!kinds_of(&timeline).contains(&EntryKind::InternalNote));
            assert!(timeline.iter().all(|e| !e.body.contains("broke")));
            let files: Vec<_> = store
                .attachments(id, &kinds)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.file_name)
                .collect();
            assert_eq!(files, ["report.txt", "how-to.png", "reboot.jpg"]);
        }

        let timeline = store
            .entries(id, &dora.visible_entry_kinds())
            .await
            .unwrap();
        assert_eq!(
            kinds_of(&timeline),
            [
                EntryKind::Classification,
                EntryKind::StatusChange,
                EntryKind::InternalNote,
                EntryKind::DeskQuestion,
                EntryKind::StatusChange,
                EntryKind::CustomerNote,
                EntryKind::StatusChange,
            ]
        );
        let note = &timeline[2];
        assert_eq!(note.body, "Customer broke it");
        assert_eq!(
            (note.author_id, note.author_name.as_deref()),
            (Some(w.dora), Some("Dora Desk"))
        );
        assert_eq!(note.created_at, T0 + 20);
        assert_eq!(
            store
                .attachments(id, &dora.visible_entry_kinds())
                .await
                .unwrap()
                .len(),
            4
        );

        assert!(store.entries(id, &[]).await.unwrap().is_empty());
        let only_ticket_files = store.attachments(id, &[]).await.unwrap();
        assert_eq!(
            only_ticket_files.len(),
            1,
            "files of the report itself are always visible"
        );
    })
    .await;
}

#[tokio::test]
async fn entries_move_the_status() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let t = open_ticket(&store, &w, "Printer offline", T0).await;
        let number = t.number.clone();
        let everything = EntryKind::ALL.to_vec();

        // A customer note on a new call changes nothing but the time.
        store
            .add_entry(
                &t,
                EntryKind::CustomerNote,
                w.anna,
                "Still offline",
                &[],
                T0 + 5,
            )
            .await
            .unwrap();
        let t = reload(&store, &number).await;
        assert_eq!((t.status, t.updated_at), (TicketStatus::New, T0 + 5));

        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 10)
            .await
            .unwrap();
        let steps = [
            (
                EntryKind::DeskQuestion,
                w.dora,
                TicketStatus::WaitingForCustomer,
            ),
            (EntryKind::CustomerNote, w.anna, TicketStatus::InProgress),
            (EntryKind::Solution, w.dora, TicketStatus::Solved),
            (EntryKind::InternalNote, w.dora, TicketStatus::Solved),
            (
                EntryKind::CustomerQuestion,
                w.anna,
                TicketStatus::InProgress,
            ),
        ];
        for (i, (kind, author, expected)) in steps.into_iter().enumerate() {
            let now = T0 + 100 * (i as i64 + 1);
            let before = reload(&store, &number).await;
            let id = store
                .add_entry(&before, kind, author, " Some words ", &[], now)
                .await
                .unwrap();
            let after = reload(&store, &number).await;
            assert_eq!(after.status, expected, "after {kind:?}");
            // An internal note leaves the time a customer sees untouched.
            let changed_at = if kind.customer_visible() {
                now
            } else {
                before.updated_at
            };
            assert_eq!(after.updated_at, changed_at, "after {kind:?}");

            let timeline = store.entries(t.id, &everything).await.unwrap();
            let at = timeline.iter().position(|e| e.id == id).unwrap();
            assert_eq!(
                (timeline[at].kind, timeline[at].body.as_str()),
                (kind, "Some words")
            );
            let tail = &timeline[at + 1..];
            if expected == before.status {
                assert!(tail.is_empty(), "{kind:?} leaves the status alone");
            } else {
                let change = format!("{}>{}", before.status.code(), expected.code());
                assert_eq!(kinds_of(tail), [EntryKind::StatusChange], "after {kind:?}");
                assert_eq!(tail[0].body, change);
                assert_eq!(tail[0].author_id, Some(author));
            }
        }
    })
    .await;
}

#[tokio::test]
async fn closed_tickets_take_no_more_entries() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let stale = open_ticket(&store, &w, "Monitor flickers", T0).await;
        let closed = close(&store, &w, &stale, T0 + 10).await;
        assert_eq!(closed.status, TicketStatus::Closed);
        let everything = EntryKind::ALL.to_vec();
        let timeline_before = store.entries(closed.id, &everything).await.unwrap();
        assert_eq!(timeline_before.last().unwrap().body, "solved>closed");

        let late = [file("late.png", "k-late")];
        for (kind, author) in [
            (EntryKind::CustomerNote, w.anna),
            (EntryKind::Solution, w.dora),
        ] {
            assert_eq!(
                refusal(
                    store
                        .add_entry(&closed, kind, author, "Hello?", &late, T0 + 20)
                        .await
                ),
                DomainError::Conflict("ticket_closed"),
            );
        }
        // A page opened before the ticket was closed is refused as well.
        let error = refusal(
            store
                .add_entry(
                    &stale,
                    EntryKind::CustomerNote,
                    w.anna,
                    "Hi",
                    &late,
                    T0 + 20,
                )
                .await,
        );
        assert!(matches!(error, DomainError::Conflict(_)), "{error:?}");

        assert_eq!(
            store.entries(closed.id, &everything).await.unwrap().len(),
            timeline_before.len()
        );
        assert!(
            store
                .attachments(closed.id, &everything)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(reload(&store, &stale.number).await.updated_at, T0 + 10);

        // Reopened at the desk, it takes entries again.
        store
            .set_status(&closed, TicketStatus::InProgress, w.dora, T0 + 30)
            .await
            .unwrap();
        let reopened = reload(&store, &stale.number).await;
        store
            .add_entry(
                &reopened,
                EntryKind::CustomerNote,
                w.anna,
                "Thanks",
                &late,
                T0 + 40,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .attachments(closed.id, &everything)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn classification_happens_once_and_puts_a_new_call_to_work() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let call = open_ticket(&store, &w, "Need a new mouse", T0).await;
        store
            .classify(&call, TicketKind::ServiceRequest, w.dora, T0 + 10)
            .await
            .unwrap();
        let t = reload(&store, &call.number).await;
        assert_eq!(
            (t.kind, t.status),
            (TicketKind::ServiceRequest, TicketStatus::InProgress)
        );
        assert_eq!(t.updated_at, T0 + 10);
        let everything = EntryKind::ALL.to_vec();
        let timeline = store.entries(t.id, &everything).await.unwrap();
        let summary: Vec<_> = timeline.iter().map(|e| (e.kind, e.body.as_str())).collect();
        assert_eq!(
            summary,
            [
                (EntryKind::Classification, "service_request"),
                (EntryKind::StatusChange, "new>in_progress"),
            ]
        );
        assert!(
            listed(&store, Scope::All, StatusFilter::NewCalls)
                .await
                .is_empty()
        );

        for ticket in [&t, &call] {
            assert_eq!(
                refusal(
                    store
                        .classify(ticket, TicketKind::Incident, w.dora, T0 + 20)
                        .await
                ),
                DomainError::Conflict("already_classified"),
            );
        }
        assert_eq!(
            reload(&store, &call.number).await.kind,
            TicketKind::ServiceRequest
        );
        assert_eq!(store.entries(t.id, &everything).await.unwrap().len(), 2);

        // A call that already waits for the customer keeps waiting.
        let waiting = open_ticket(&store, &w, "Screen is dark", T0).await;
        assert_eq!(
            refusal(
                store
                    .classify(&waiting, TicketKind::Call, w.dora, T0 + 20)
                    .await
            ),
            DomainError::Conflict("already_classified"),
        );
        store
            .add_entry(
                &waiting,
                EntryKind::DeskQuestion,
                w.dora,
                "Plugged in?",
                &[],
                T0 + 30,
            )
            .await
            .unwrap();
        let waiting = reload(&store, &waiting.number).await;
        store
            .classify(&waiting, TicketKind::Incident, w.dora, T0 + 40)
            .await
            .unwrap();
        let t = reload(&store, &waiting.number).await;
        assert_eq!(
            (t.kind, t.status),
            (TicketKind::Incident, TicketStatus::WaitingForCustomer)
        );
        let timeline = store.entries(t.id, &everything).await.unwrap();
        assert_eq!(timeline.last().unwrap().kind, EntryKind::Classification);
    })
    .await;
}

#[tokio::test]
async fn the_report_can_be_edited_until_classification() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let call = open_ticket(&store, &w, "Printer broken", T0).await;
        store
            .edit_report(
                &call,
                "  Printer on fire  ",
                " Smoke everywhere ",
                w.anna,
                T0 + 10,
            )
            .await
            .unwrap();
        let t = reload(&store, &call.number).await;
        assert_eq!(
            (t.short_text.as_str(), t.description.as_str()),
            ("Printer on fire", "Smoke everywhere")
        );
        assert_eq!(t.updated_at, T0 + 10);
        assert_eq!(found(&store, "on fire").await, [t.number.as_str()]);
        let everything = EntryKind::ALL.to_vec();
        let timeline = store.entries(t.id, &everything).await.unwrap();
        assert_eq!(kinds_of(&timeline), [EntryKind::ReportEdited]);
        assert_eq!(timeline[0].author_id, Some(w.anna));

        store
            .classify(&t, TicketKind::Incident, w.dora, T0 + 20)
            .await
            .unwrap();
        let classified = reload(&store, &call.number).await;
        // Refused whether the page knew of the classification or not.
        for ticket in [&classified, &t] {
            assert_eq!(
                refusal(
                    store
                        .edit_report(ticket, "Rewritten", "", w.anna, T0 + 30)
                        .await
                ),
                DomainError::Conflict("report_locked"),
            );
        }
        let after = reload(&store, &call.number).await;
        assert_eq!(
            (after.short_text.as_str(), after.updated_at),
            ("Printer on fire", T0 + 20)
        );

        // A closed call is locked too.
        let closed = open_ticket(&store, &w, "Never mind", T0).await;
        let closed = close(&store, &w, &closed, T0 + 10).await;
        assert_eq!(
            refusal(
                store
                    .edit_report(&closed, "Oh wait", "", w.anna, T0 + 20)
                    .await
            ),
            DomainError::Conflict("report_locked"),
        );
    })
    .await;
}

// ------------------------------------------------------ sessions and sign-in

#[tokio::test]
async fn sessions_are_created_touched_and_ended() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let token = hash_token("token-1");
        store
            .create_session(&token, w.anna, SessionStage::SecondFactor, "csrf-1", T0)
            .await
            .unwrap();
        let s = store.session(&token).await.unwrap().unwrap();
        assert_eq!(
            (s.token_hash.as_str(), s.person, s.stage),
            (token.as_str(), w.anna, SessionStage::SecondFactor)
        );
        assert_eq!(
            (s.csrf_token.as_str(), s.second_factor_failures),
            ("csrf-1", 0)
        );
        assert_eq!((s.created_at, s.last_seen_at), (T0, T0));
        assert!(
            store
                .session(&hash_token("token-x"))
                .await
                .unwrap()
                .is_none()
        );

        // Touching writes at most once a minute.
        store.touch_session(&token, T0 + 30).await.unwrap();
        assert_eq!(
            store.session(&token).await.unwrap().unwrap().last_seen_at,
            T0
        );
        store.touch_session(&token, T0 + 61).await.unwrap();
        assert_eq!(
            store.session(&token).await.unwrap().unwrap().last_seen_at,
            T0 + 61
        );

        // Wrong second factors are counted on the session.
        for expected in 1..=3 {
            assert_eq!(
                store.count_second_factor_failure(&token).await.unwrap(),
                expected
            );
        }
        assert_eq!(
            store
                .session(&token)
                .await
                .unwrap()
                .unwrap()
                .second_factor_failures,
            3
        );
        let gone = store
            .count_second_factor_failure(&hash_token("token-x"))
            .await
            .unwrap();
        assert!(
            gone >= ticketwerk_domain::auth::MAX_SECOND_FACTOR_FAILURES,
            "no session, no try"
        );

        for (i, stage) in [SessionStage::Enrol, SessionStage::Full]
            .into_iter()
            .enumerate()
        {
            let other = hash_token(&format!("stage-{i}"));
            store
                .create_session(&other, w.ben, stage, "csrf", T0)
                .await
                .unwrap();
            assert_eq!(store.session(&other).await.unwrap().unwrap().stage, stage);
        }

        store.delete_session(&token).await.unwrap();
        assert!(store.session(&token).await.unwrap().is_none());
        assert!(
            store
                .session(&hash_token("stage-1"))
                .await
                .unwrap()
                .is_some(),
            "others stay"
        );
    })
    .await;
}

#[tokio::test]
async fn idle_and_old_sessions_are_purged() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let idle = hash_token("idle");
        let old_but_busy = hash_token("old-but-busy");
        let recent = hash_token("recent");
        store
            .create_session(&idle, w.anna, SessionStage::Full, "c", T0)
            .await
            .unwrap();
        store
            .create_session(&old_but_busy, w.anna, SessionStage::Full, "c", T0)
            .await
            .unwrap();
        store.touch_session(&old_but_busy, T0 + 9000).await.unwrap();
        store
            .create_session(&recent, w.anna, SessionStage::Full, "c", T0 + 8000)
            .await
            .unwrap();

        assert_eq!(store.purge_sessions(T0 + 5000, T0 - 1).await.unwrap(), 1);
        assert!(store.session(&idle).await.unwrap().is_none());
        assert_eq!(store.purge_sessions(T0 + 5000, T0 + 1).await.unwrap(), 1);
        assert!(store.session(&old_but_busy).await.unwrap().is_none());
        assert!(store.session(&recent).await.unwrap().is_some());
        assert_eq!(store.purge_sessions(T0 + 5000, T0 + 1).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_totp_step_is_accepted_once() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let creds = store.credentials_by_id(w.anna).await.unwrap().unwrap();
        assert!(creds.totp_secret.is_none());
        store
            .create_session("enrol-a", w.anna, SessionStage::Enrol, "c", T0)
            .await
            .unwrap();
        store
            .create_session("enrol-b", w.anna, SessionStage::Enrol, "c", T0)
            .await
            .unwrap();
        assert!(
            !store
                .confirm_totp(w.anna, "enrol-a", TotpSetup::First, 1000, &[])
                .await
                .unwrap(),
            "nothing pending"
        );

        // Each sign-in sets up a secret of its own; the other never sees it.
        store
            .set_pending_totp("enrol-a", "JBSWY3DPEHPK3PXP")
            .await
            .unwrap();
        assert_eq!(
            store.pending_totp("enrol-a").await.unwrap().as_deref(),
            Some("JBSWY3DPEHPK3PXP")
        );
        assert_eq!(store.pending_totp("enrol-b").await.unwrap(), None);
        store
            .set_pending_totp("enrol-b", "KRSXG5CTMVRXEZLU")
            .await
            .unwrap();
        let creds = store.credentials_by_id(w.anna).await.unwrap().unwrap();
        assert!(creds.totp_secret.is_none());

        assert!(
            store
                .confirm_totp(w.anna, "enrol-a", TotpSetup::First, 1000, &[])
                .await
                .unwrap()
        );
        let creds = store.credentials_by_id(w.anna).await.unwrap().unwrap();
        assert_eq!(creds.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
        assert_eq!(creds.totp_last_step, Some(1000));
        // The sign-in that waited at enrolment cannot replace it, and its
        // secret is void.
        assert_eq!(store.pending_totp("enrol-b").await.unwrap(), None);
        store
            .set_pending_totp("enrol-b", "KRSXG5CTMVRXEZLU")
            .await
            .unwrap();
        assert!(
            !store
                .confirm_totp(w.anna, "enrol-b", TotpSetup::First, 1000, &[])
                .await
                .unwrap()
        );
        // A signed-in person replacing their app may.
        assert!(
            store
                .confirm_totp(w.anna, "enrol-b", TotpSetup::Replace, 1000, &[])
                .await
                .unwrap()
        );
        let creds = store.credentials_by_id(w.anna).await.unwrap().unwrap();
        assert_eq!(creds.totp_secret.as_deref(), Some("KRSXG5CTMVRXEZLU"));
        // Another person's session sets up nothing for Anna.
        store
            .create_session("ben", w.ben, SessionStage::Enrol, "c", T0)
            .await
            .unwrap();
        store
            .set_pending_totp("ben", "MFRGGZDFMZTWQ2LK")
            .await
            .unwrap();
        assert!(
            !store
                .confirm_totp(w.anna, "ben", TotpSetup::Replace, 1000, &[])
                .await
                .unwrap()
        );
        store
            .set_pending_totp("enrol-a", "JBSWY3DPEHPK3PXP")
            .await
            .unwrap();
        assert!(
            store
                .confirm_totp(w.anna, "enrol-a", TotpSetup::Replace, 1000, &[])
                .await
                .unwrap()
        );

        // The enrolment code's step, and anything older, is used up.
        assert!(!store.claim_totp_step(w.anna, 1000).await.unwrap());
        assert!(!store.claim_totp_step(w.anna, 999).await.unwrap());
        assert!(store.claim_totp_step(w.anna, 1001).await.unwrap());
        assert!(!store.claim_totp_step(w.anna, 1001).await.unwrap());
        assert!(!store.claim_totp_step(w.anna, 1000).await.unwrap());
        assert!(store.claim_totp_step(w.anna, 1003).await.unwrap());
        assert!(
            !store.claim_totp_step(w.anna, 1002).await.unwrap(),
            "no going back"
        );
        let creds = store.credentials_by_id(w.anna).await.unwrap().unwrap();
        assert_eq!(creds.totp_last_step, Some(1003));

        // Two instances checking the same code at once: one wins.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.claim_totp_step(w.anna, 2000).await.unwrap() })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += i32::from(task.await.unwrap());
        }
        assert_eq!(accepted, 1);

        // Steps are per person.
        store
            .set_pending_totp("ben", "KRSXG5CTMVRXEZLU")
            .await
            .unwrap();
        assert!(
            store
                .confirm_totp(w.ben, "ben", TotpSetup::First, 5, &[])
                .await
                .unwrap()
        );
        assert!(store.claim_totp_step(w.ben, 1001).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn recovery_codes_work_once() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let codes = generate_recovery_codes();
        let hashes: Vec<_> = codes.iter().map(|c| hash_recovery_code(c)).collect();
        store
            .create_session("anna", w.anna, SessionStage::Enrol, "c", T0)
            .await
            .unwrap();
        store
            .set_pending_totp("anna", "JBSWY3DPEHPK3PXP")
            .await
            .unwrap();
        assert!(
            store
                .confirm_totp(w.anna, "anna", TotpSetup::First, 1, &hashes)
                .await
                .unwrap()
        );
        let total = i64::try_from(codes.len()).unwrap();
        assert_eq!(store.unused_recovery_codes(w.anna).await.unwrap(), total);

        let first = hash_recovery_code(&codes[0].to_uppercase());
        assert!(
            !store.use_recovery_code(w.ben, &first, T0).await.unwrap(),
            "not Ben's"
        );
        assert!(store.use_recovery_code(w.anna, &first, T0).await.unwrap());
        assert!(
            !store
                .use_recovery_code(w.anna, &first, T0 + 1)
                .await
                .unwrap(),
            "used up"
        );
        let wrong = hash_recovery_code("aaaa-bbbb-cccc");
        assert!(!store.use_recovery_code(w.anna, &wrong, T0).await.unwrap());
        assert_eq!(
            store.unused_recovery_codes(w.anna).await.unwrap(),
            total - 1
        );

        // Enrolling again replaces every old code.
        let fresh: Vec<_> = ["one", "two"].map(hash_recovery_code).to_vec();
        store
            .set_pending_totp("anna", "KRSXG5CTMVRXEZLU")
            .await
            .unwrap();
        assert!(
            store
                .confirm_totp(w.anna, "anna", TotpSetup::Replace, 2, &fresh)
                .await
                .unwrap()
        );
        assert_eq!(store.unused_recovery_codes(w.anna).await.unwrap(), 2);
        let second = hash_recovery_code(&codes[1]);
        assert!(!store.use_recovery_code(w.anna, &second, T0).await.unwrap());
        assert!(
            store
                .use_recovery_code(w.anna, &fresh[0], T0)
                .await
                .unwrap()
        );
        assert_eq!(store.unused_recovery_codes(w.ben).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn the_throttle_counts_failures_within_a_window() {
    for_each_backend(|store| async move {
        let rule = THROTTLE_ACCOUNT_ADDRESS;
        let key = "anna@acme.example|192.0.2.1";
        let neighbour = "anna@acme.example|192.0.2.2";
        assert_eq!(store.throttled_until(key, rule, T0).await.unwrap(), None);

        for i in 0..rule.max_failures {
            assert_eq!(
                store.throttled_until(key, rule, T0 + i).await.unwrap(),
                None
            );
            store.record_failure(key, rule, T0 + i).await.unwrap();
        }
        let until = T0 + rule.window;
        assert_eq!(
            store.throttled_until(key, rule, T0 + 100).await.unwrap(),
            Some(until)
        );
        assert_eq!(
            store
                .throttled_until(neighbour, rule, T0 + 100)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.throttled_until(key, rule, until).await.unwrap(),
            None,
            "it ends"
        );

        // A success clears the count.
        store.clear_failures(key).await.unwrap();
        assert_eq!(
            store.throttled_until(key, rule, T0 + 100).await.unwrap(),
            None
        );

        // Failures in an ended window do not carry over: the window restarts.
        for i in 0..rule.max_failures - 1 {
            store.record_failure(key, rule, T0 + i).await.unwrap();
        }
        let later = T0 + rule.window + 10;
        store.record_failure(key, rule, later).await.unwrap();
        assert_eq!(store.throttled_until(key, rule, later).await.unwrap(), None);
        for i in 1..rule.max_failures - 1 {
            store.record_failure(key, rule, later + i).await.unwrap();
        }
        assert_eq!(
            store.throttled_until(key, rule, later + 100).await.unwrap(),
            None
        );
        store.record_failure(key, rule, later + 100).await.unwrap();
        let blocked = store.throttled_until(key, rule, later + 101).await.unwrap();
        assert_eq!(
            blocked,
            Some(later + rule.window),
            "the new window counts from its start"
        );
    })
    .await;
}

// -------------------------------------------------------------- attachments

#[tokio::test]
async fn the_file_store_keeps_bytes_under_safe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::new(dir.path().join("files"));
    let key = files.put(b"%PDF-1.7 invoice").await.unwrap();
    assert!(key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(files.get(&key).await.unwrap(), b"%PDF-1.7 invoice");
    let empty = files.put(b"").await.unwrap();
    assert_ne!(empty, key);
    assert_eq!(files.get(&empty).await.unwrap(), b"");
    let folder = dir.path().join("files").join(&key[..2]);
    let partial = std::fs::read_dir(&folder).unwrap().any(|f| {
        f.unwrap()
            .path()
            .extension()
            .is_some_and(|e| e == "partial")
    });
    assert!(!partial, "no half-written files remain");

    files.delete(&key).await;
    assert!(files.get(&key).await.is_err());
    files.delete(&key).await;

    // Keys that are not 32 lowercase hex digits never become paths.
    let outside = dir.path().join("x");
    std::fs::write(&outside, b"not an attachment").unwrap();
    let bad = [
        "../x".to_string(),
        String::new(),
        "../../../../../../etc/passwd".to_string(),
        format!("{}A", &empty[..31]),
        empty[..31].to_string(),
        format!("{empty}0"),
        format!("{}/", &empty[..31]),
        "0123456789abcdef0123456789abcdeg".to_string(),
    ];
    for key in &bad {
        assert!(files.get(key).await.is_err(), "{key:?} is refused");
        files.delete(key).await;
    }
    assert!(outside.exists());
    assert_eq!(files.get(&empty).await.unwrap(), b"");
}

#[tokio::test]
async fn the_desk_follows_the_status_rules() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let call = open_ticket(&store, &w, "Laptop", T0).await;
        let refused = refusal(
            store
                .set_status(&call, TicketStatus::Closed, w.dora, T0 + 1)
                .await,
        );
        assert_eq!(refused, DomainError::Conflict("classify_first"));
        // Solved comes only with a solution, never by hand.
        let refused = refusal(
            store
                .set_status(&call, TicketStatus::Solved, w.dora, T0 + 1)
                .await,
        );
        assert_eq!(refused, DomainError::Conflict("write_solution"));
        let solution = store
            .add_entry(&call, EntryKind::Solution, w.dora, "Fixed", &[], T0 + 1)
            .await;
        assert_eq!(refusal(solution), DomainError::Conflict("classify_first"));
        store
            .classify(&call, TicketKind::Incident, w.dora, T0 + 2)
            .await
            .unwrap();
        let t = reload(&store, &call.number).await;
        let early = refusal(
            store
                .set_status(&t, TicketStatus::Closed, w.dora, T0 + 3)
                .await,
        );
        assert_eq!(early, DomainError::Conflict("solve_first"));
        let new = refusal(
            store
                .set_status(&t, TicketStatus::New, w.dora, T0 + 3)
                .await,
        );
        assert_eq!(new, DomainError::Conflict("status_new_not_allowed"));
        assert_eq!(
            reload(&store, &call.number).await.status,
            TicketStatus::InProgress
        );
        let closed = close(&store, &w, &t, T0 + 4).await;
        store
            .set_status(&closed, TicketStatus::InProgress, w.dora, T0 + 5)
            .await
            .unwrap();
        assert_eq!(
            reload(&store, &call.number).await.status,
            TicketStatus::InProgress
        );
    })
    .await;
}

#[tokio::test]
async fn an_edited_report_keeps_what_was_first_reported() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let call = open_ticket(&store, &w, "Drucker", T0).await;
        store
            .edit_report(&call, "Drucker und Scanner", "Beide aus", w.anna, T0 + 5)
            .await
            .unwrap();
        let timeline = store.entries(call.id, &customer_kinds()).await.unwrap();
        let edit = timeline
            .iter()
            .find(|e| e.kind == EntryKind::ReportEdited)
            .unwrap();
        assert!(edit.body.starts_with("Drucker\n\n"), "{:?}", edit.body);
        assert!(edit.body.contains(&call.description));
    })
    .await;
}

#[tokio::test]
async fn a_cursor_that_does_not_fit_starts_at_the_first_page() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        for i in 0..3 {
            open_ticket(&store, &w, &format!("Ticket {i}"), T0 + i).await;
        }
        let mut q = query(Scope::Partners(vec![w.acme]), StatusFilter::Open);
        q.sort = SortKey::Updated;
        let first = store.list_tickets(&q).await.unwrap().items.len();
        for bad in ["1.notanumber", "abc", "", ".", "x.1"] {
            q.after = Some(bad.to_string());
            let page = store.list_tickets(&q).await.unwrap();
            assert_eq!(page.items.len(), first, "cursor {bad:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn column_search_narrows_each_column() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let printer = open_ticket(&store, &w, "Drucker Etage 3", T0).await;
        let screen = open_ticket(&store, &w, "Bildschirm flackert", T0 + 1).await;
        store
            .classify(&screen, TicketKind::Incident, w.dora, T0 + 2)
            .await
            .unwrap();
        let numbers = |columns: ColumnFilter| {
            let store = store.clone();
            let acme = w.acme;
            async move {
                let mut q = query(Scope::Partners(vec![acme]), StatusFilter::Open);
                q.columns = columns;
                let page = store.list_tickets(&q).await.unwrap();
                page.items
                    .into_iter()
                    .map(|t| t.number.to_string())
                    .collect::<Vec<_>>()
            }
        };
        let p = printer.number.to_string();
        let s = screen.number.to_string();
        let text = ColumnFilter {
            short_text: Some("ETAGE".into()),
            ..Default::default()
        };
        assert_eq!(numbers(text).await, [p.as_str()]);
        let kind = ColumnFilter {
            kind: Some(TicketKind::Incident),
            ..Default::default()
        };
        assert_eq!(numbers(kind).await, [s.as_str()]);
        let status = ColumnFilter {
            status: Some(TicketStatus::New),
            ..Default::default()
        };
        assert_eq!(numbers(status).await, [p.as_str()]);
        let person = ColumnFilter {
            reported_for: Some("berg".into()),
            ..Default::default()
        };
        assert_eq!(numbers(person).await.len(), 2);
        let both = ColumnFilter {
            number: Some(s[5..].to_string()),
            reference: Some("%".into()),
            ..Default::default()
        };
        assert!(numbers(both).await.is_empty(), "% is literal");
    })
    .await;
}

#[tokio::test]
async fn a_system_is_assigned_changed_and_removed() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let t = open_ticket(&store, &w, "Notebook", T0).await;
        let pc = store
            .create_system(w.acme, "laptop", "PC 1", "INV-1", None)
            .await
            .unwrap();
        store
            .assign_system(&t, Some(pc), w.anna, T0 + 1)
            .await
            .unwrap();
        assert_eq!(reload(&store, &t.number).await.system_id, Some(pc));
        store.assign_system(&t, None, w.anna, T0 + 2).await.unwrap();
        let after = reload(&store, &t.number).await;
        assert_eq!((after.system_id, after.system_name), (None, None));
        // Both changes are on the timeline, with who made them.
        let timeline = store.entries(t.id, EntryKind::ALL).await.unwrap();
        let changes: Vec<(&str, Option<i64>)> = timeline
            .iter()
            .filter(|e| e.kind == EntryKind::SystemChanged)
            .map(|e| (e.body.as_str(), e.author_id))
            .collect();
        assert_eq!(
            changes,
            [("PC 1 (INV-1)", Some(w.anna)), ("", Some(w.anna))]
        );
    })
    .await;
}
