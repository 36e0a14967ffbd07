//! What storage promises about master data: authority follows contracts
//! and their periods to the second, imports are all or nothing, every
//! change is logged, and pickers offer one business partner's things only.
//! On SQLite always, and on PostgreSQL when a server is configured.
#![allow(clippy::unwrap_used)]

mod common;

use common::{T0, World, YEAR, for_each_backend, report};
use ticketwerk_domain::import::{parse_persons, parse_systems};
use ticketwerk_domain::masterdata::{
    ContractInput, PartnerInput, Period, PersonInput, SystemInput, SystemKind,
};
use ticketwerk_domain::{DomainError, Id};
use ticketwerk_storage::{Change, StorageError, Store};

const DAY: i64 = 86_400;

fn by(actor: Id, at: i64) -> Change {
    Change {
        actor: Some(actor),
        at,
    }
}

async fn authorised(store: &Store, person: Id, partner: Id, at: i64) -> bool {
    store
        .viewer_at(person, at)
        .await
        .unwrap()
        .unwrap()
        .is_authorised_for(partner)
}

#[tokio::test]
async fn authority_follows_contract_and_authorisation_periods() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let desk = by(w.dora, T0);
        // A contract for January; Ben authorised from the 10th, open-ended.
        let january = ContractInput {
            name: "Wartungsvertrag 2026".into(),
            period: Period::new(T0, Some(T0 + 31 * DAY)).unwrap(),
        };
        let contract = store.add_contract(w.acme, &january, desk).await.unwrap();
        let from_10th = Period::new(T0 + 9 * DAY, None).unwrap();
        let auth = store.authorise(contract, w.ben, from_10th, desk).await.unwrap();

        assert!(!authorised(&store, w.ben, w.acme, T0 + 9 * DAY - 1).await);
        assert!(authorised(&store, w.ben, w.acme, T0 + 9 * DAY).await);
        assert!(authorised(&store, w.ben, w.acme, T0 + 31 * DAY - 1).await);
        assert!(
            !authorised(&store, w.ben, w.acme, T0 + 31 * DAY).await,
            "the contract's end ends the authorisation"
        );

        // Ended at once: the very next second it no longer counts.
        let now = T0 + 12 * DAY;
        store.end_authorisation(auth, by(w.dora, now)).await.unwrap();
        assert!(authorised(&store, w.ben, w.acme, now - 1).await);
        assert!(!authorised(&store, w.ben, w.acme, now).await);

        // Only members can be authorised, and only for their partner.
        let refused = store.authorise(contract, w.olga, from_10th, desk).await;
        assert!(matches!(
            refused,
            Err(StorageError::Domain(DomainError::Invalid(ref f))) if f[0].code == "form.not_a_member"
        ));

        // Leaving the business partner ends authority too.
        let auth = store.authorise(contract, w.carl, from_10th, desk).await.unwrap();
        assert!(authorised(&store, w.carl, w.acme, now).await);
        store.leave_partner(w.carl, w.acme, by(w.dora, now)).await.unwrap();
        let carl = store.viewer_at(w.carl, now).await.unwrap().unwrap();
        assert!(!carl.is_member_of(w.acme));
        let contract = store.contract(contract, now).await.unwrap().unwrap();
        let ended = contract.authorisations.iter().find(|a| a.id == auth).unwrap();
        assert_eq!(ended.period.ends_at, Some(now));
    })
    .await;
}

#[tokio::test]
async fn every_change_is_logged_with_who_and_what() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let input = PartnerInput::parse("K-77", "Bäckerei Korn").unwrap();
        let bp = store.add_partner(&input, by(w.dora, T0)).await.unwrap();
        let renamed = PartnerInput::parse("K-77", "Bäckerei Korn & Co.").unwrap();
        store.update_partner(bp, &renamed, by(w.dora, T0 + 60)).await.unwrap();
        store.update_partner(bp, &renamed, by(w.dora, T0 + 120)).await.unwrap();

        let history = store.history_of_partner(bp, 10).await.unwrap();
        assert_eq!(history.len(), 2, "an unchanged save logs nothing");
        assert_eq!(history[0].action, "changed");
        assert_eq!(history[0].actor_name.as_deref(), Some("Dora Desk"));
        let change = &history[0].changes[0];
        assert_eq!(
            (change.0.as_str(), change.1.as_str(), change.2.as_str()),
            ("name", "Bäckerei Korn", "Bäckerei Korn & Co.")
        );
        assert_eq!(history[1].action, "created");

        let taken = store
            .add_partner(&PartnerInput::parse("K-77", "Other").unwrap(), by(w.dora, T0))
            .await;
        assert!(matches!(
            taken,
            Err(StorageError::Domain(DomainError::Invalid(ref f))) if f[0].code == "form.customer_number_taken"
        ));
        // The refused write left no trace in the log either.
        assert_eq!(store.history_of_partner(bp, 10).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_person_import_with_one_bad_row_writes_nothing() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let file = "Kundennummer;Name;E-Mail;Abteilung\n\
                    10001;Eva Roth;eva@acme.example;Einkauf\n\
                    10001;Tom Li;tom@acme.example;Einkauf\n\
                    99999;Nina Ost;nina@acme.example;\n\
                    10001;Ben Again;ben@acme.example;\n";
        let parsed = parse_persons(file.as_bytes()).unwrap();
        let report = store
            .import_persons(&parsed.rows, parsed.errors, by(w.dora, T0), false)
            .await
            .unwrap();
        assert!(!report.written);
        let refused: Vec<_> = report
            .rejected
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            refused,
            vec![
                (4, "customer_number", "import.unknown_partner"),
                (5, "email", "form.email_taken"),
            ]
        );
        assert_eq!((report.rows, report.refused_rows()), (4, 2));
        let eva = ticketwerk_domain::Email::parse("eva@acme.example").unwrap();
        assert!(
            store.credentials(&eva).await.unwrap().is_none(),
            "nothing written"
        );
        assert!(store.units_of(w.acme).await.unwrap().is_empty());

        // A row with two bad fields names both and counts as one row.
        let twice = "Kundennummer;Name;E-Mail;Telefon\n\
                     10001;Eva Roth;keine-adresse;abc\n\
                     10001;Tom Li;tom@acme.example;\n";
        let parsed = parse_persons(twice.as_bytes()).unwrap();
        let report = store
            .import_persons(&parsed.rows, parsed.errors, by(w.dora, T0), true)
            .await
            .unwrap();
        assert_eq!(report.rejected.len(), 2, "{:?}", report.rejected);
        assert_eq!((report.rows, report.refused_rows()), (2, 1));

        // The good rows alone: a dry run writes nothing, the real run all.
        let good = "Kundennummer;Name;E-Mail;Abteilung\n\
                    10001;Eva Roth;eva@acme.example;Einkauf\n\
                    10001;Tom Li;tom@acme.example;Einkauf\n";
        let parsed = parse_persons(good.as_bytes()).unwrap();
        let dry = store
            .import_persons(&parsed.rows, vec![], by(w.dora, T0), true)
            .await
            .unwrap();
        assert_eq!(
            (dry.created, dry.written, dry.rejected.len()),
            (2, false, 0)
        );
        assert!(store.credentials(&eva).await.unwrap().is_none());
        let done = store
            .import_persons(&parsed.rows, vec![], by(w.dora, T0), false)
            .await
            .unwrap();
        assert_eq!(
            (done.created, done.units_created, done.written),
            (2, 1, true)
        );
        let members = store.members_of(w.acme, T0).await.unwrap();
        let eva = members
            .iter()
            .find(|m| m.person.name == "Eva Roth")
            .unwrap();
        assert_eq!(eva.unit_name.as_deref(), Some("Einkauf"));
        assert!(!eva.authorised, "an import grants no authority");
    })
    .await;
}

#[tokio::test]
async fn a_system_import_names_users_of_that_partner_only() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let file = "customer_number,kind,name,inventory_number,user_email\n\
                    10001,Laptop,ThinkPad T14,INV-1,ben@acme.example\n\
                    10001,Maus,MX Master,,olga@globex.example\n\
                    10001,Monitor,Dell 27,INV-3,nobody@acme.example\n";
        let parsed = parse_systems(file.as_bytes()).unwrap();
        let report = store
            .import_systems(&parsed.rows, parsed.errors, by(w.dora, T0), false)
            .await
            .unwrap();
        let refused: Vec<_> = report
            .rejected
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            refused,
            vec![
                (3, "user_email", "form.not_a_member"),
                (4, "user_email", "import.unknown_person"),
            ]
        );
        assert!(store.all_systems_of(w.acme).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn pickers_offer_one_partners_things_in_use_only() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let desk = by(w.dora, T0);
        let olgas = store.pick_persons(w.globex, "", 30).await.unwrap();
        assert_eq!(
            olgas.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
            vec!["Olga Frey"]
        );
        let found = store.pick_persons(w.acme, "BEN", 30).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "Ben Cole");
        assert!(found[0].detail.contains("ben@acme.example"));
        // A person no longer active is not offered.
        let ben = PersonInput::parse("Ben Cole", "ben@acme.example", "", "de").unwrap();
        store.update_person(w.ben, &ben, false, desk).await.unwrap();
        assert!(
            store
                .pick_persons(w.acme, "ben", 30)
                .await
                .unwrap()
                .is_empty()
        );

        let system = |name: &str, user: Option<Id>, active: bool| SystemInput {
            kind: SystemKind::Laptop,
            name: name.into(),
            inventory_number: String::new(),
            user,
            active,
        };
        store
            .add_system(w.acme, &system("Zeta", None, true), desk)
            .await
            .unwrap();
        store
            .add_system(w.acme, &system("Alpha alt", None, false), desk)
            .await
            .unwrap();
        store
            .add_system(w.acme, &system("Yoga Carl", Some(w.carl), true), desk)
            .await
            .unwrap();
        store
            .add_system(w.globex, &system("Globex PC", None, true), desk)
            .await
            .unwrap();
        let names = |s: Vec<ticketwerk_domain::model::System>| {
            s.into_iter().map(|s| s.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                store
                    .pick_systems(w.acme, "", Some(w.carl), true, 30)
                    .await
                    .unwrap()
            ),
            vec!["Yoga Carl", "Zeta"],
            "the person's own systems first; retired and other partners' never"
        );
        assert_eq!(
            names(
                store
                    .pick_systems(w.acme, "carl", None, true, 30)
                    .await
                    .unwrap()
            ),
            vec!["Yoga Carl"],
            "found by its user's name too"
        );
        assert_eq!(
            names(
                store
                    .pick_systems(w.acme, "dorn", None, true, 30)
                    .await
                    .unwrap()
            ),
            vec!["Yoga Carl"],
            "by the user's surname, for those who may see the persons"
        );
        assert!(
            store
                .pick_systems(w.acme, "dorn", None, false, 30)
                .await
                .unwrap()
                .is_empty(),
            "for anyone else the search does not tell who uses what"
        );
    })
    .await;
}

#[tokio::test]
async fn a_ticket_for_a_person_of_another_partner_is_refused() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        // Anna is authorised at Acme; Olga belongs to Globex only.
        let forged = report(w.acme, w.anna, w.olga, "Für jemand Fremden");
        let refused = store.create_ticket(&forged, &[], YEAR, T0).await;
        assert!(matches!(
            refused,
            Err(StorageError::Domain(DomainError::Invalid(ref f))) if f[0].field == "reported_for"
        ));
        let ok = report(w.acme, w.anna, w.ben, "Für Ben");
        store.create_ticket(&ok, &[], YEAR, T0).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_retired_system_cannot_be_assigned_to_a_ticket() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let desk = by(w.dora, T0);
        let retired = SystemInput {
            kind: SystemKind::Mouse,
            name: "Alte Maus".into(),
            inventory_number: String::new(),
            user: None,
            active: false,
        };
        let retired = store.add_system(w.acme, &retired, desk).await.unwrap();
        let (_, number) = store
            .create_ticket(&report(w.acme, w.ben, w.ben, "Maus"), &[], YEAR, T0)
            .await
            .unwrap();
        let ticket = store.ticket_by_number(&number).await.unwrap().unwrap();
        let refused = store
            .assign_system(&ticket, Some(retired), w.anna, T0 + 1)
            .await;
        assert!(
            matches!(refused, Err(StorageError::Domain(DomainError::Invalid(_)))),
            "{refused:?}"
        );
        let ticket = store.ticket_by_number(&number).await.unwrap().unwrap();
        assert_eq!(ticket.system_id, None, "nothing was written");
    })
    .await;
}

#[tokio::test]
async fn an_import_finds_customer_numbers_typed_in_another_case() {
    for_each_backend(|store| async move {
        let w = World::create(&store).await;
        let klein = store
            .create_business_partner("K-77", "Klein KG", T0)
            .await
            .unwrap();
        let file = "Kundennummer;Name;E-Mail\n\
                    k-77;Eva Roth;eva@klein.example\n";
        let parsed = parse_persons(file.as_bytes()).unwrap();
        let report = store
            .import_persons(&parsed.rows, parsed.errors, by(w.dora, T0), false)
            .await
            .unwrap();
        assert!(report.written, "{:?}", report.rejected);
        let members = store.members_of(klein, T0).await.unwrap();
        assert_eq!(members.len(), 1);
        // Two partners equal but for case: each number typed exactly finds
        // its own; an unknown one finds none.
        store
            .create_business_partner("k-77", "Klein Zwei", T0)
            .await
            .unwrap();
        let file = "Kundennummer;Name;E-Mail\n\
                    K-77;Tom Li;tom@klein.example\n\
                    k-77;Ina Ott;ina@klein.example\n\
                    K-77 ;Udo Sand;udo@klein.example\n";
        let parsed = parse_persons(file.as_bytes()).unwrap();
        let report = store
            .import_persons(&parsed.rows, parsed.errors, by(w.dora, T0), true)
            .await
            .unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        let ambiguous = "Kundennummer;Name;E-Mail\nK-77X;Tom Li;tom@klein.example\n";
        let parsed = parse_persons(ambiguous.as_bytes()).unwrap();
        let report = store
            .import_persons(&parsed.rows, parsed.errors, by(w.dora, T0), true)
            .await
            .unwrap();
        assert_eq!(report.refused_rows(), 1);
    })
    .await;
}
