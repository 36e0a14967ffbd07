//! Who may see what, through the portal as a person uses it: reporting
//! for a colleague, the business partner's lists, pickers, "Meine
//! Services", forged ids in forms and authority that has ended.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, Page, TestApp, now, spawn, ticket_number};
use ticketwerk_domain::Id;
use ticketwerk_domain::masterdata::{ContractInput, Period, ServiceInput, SystemInput, SystemKind};
use ticketwerk_storage::Change;

/// Three business partners and their people:
/// - K-1 Müller GmbH: Sabine (authorised), Thomas (end user), Petra
///   (authorised until yesterday);
/// - K-2 Stadtwerke Lindenau: Leonie (end user);
/// - Markus: end user at K-1, authorised at K-2;
/// - K-3 Fremde AG: nobody above.
struct World {
    app: TestApp,
    k1: Id,
    k2: Id,
    k3: Id,
    sabine: Id,
    thomas: Id,
    leonie: Id,
    k1_service: Id,
    k2_service: Id,
    k1_system: Id,
    k2_system: Id,
}

const DAY: i64 = 86_400;

async fn world() -> World {
    let app = spawn().await;
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    let k2 = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let k3 = app.business_partner("K-3", "Fremde AG").await;
    let sabine = app.customer("sabine@example.de", "Sabine Krause", k1).await;
    let thomas = app.customer("thomas@example.de", "Thomas Becker", k1).await;
    let petra = app.customer("petra@example.de", "Petra Lang", k1).await;
    let leonie = app
        .customer("leonie@example.de", "Leonie Fischer", k2)
        .await;
    let markus = app
        .customer("markus@example.de", "Markus Hoffmann", k1)
        .await;
    app.store.add_membership(markus, k2, false).await.unwrap();
    app.customer("fremd@example.de", "Frieda Fremd", k3).await;
    let desk = Change {
        actor: None,
        at: now(),
    };
    let contract = |name: &str| ContractInput {
        name: name.into(),
        period: Period::new(now() - 30 * DAY, None).unwrap(),
    };
    let c1 = app
        .store
        .add_contract(k1, &contract("Vertrag K-1"), desk)
        .await
        .unwrap();
    let c2 = app
        .store
        .add_contract(k2, &contract("Vertrag K-2"), desk)
        .await
        .unwrap();
    let open = Period::new(now() - 30 * DAY, None).unwrap();
    let ended = Period::new(now() - 30 * DAY, Some(now() - DAY)).unwrap();
    app.store.authorise(c1, sabine, open, desk).await.unwrap();
    app.store.authorise(c1, petra, ended, desk).await.unwrap();
    app.store.authorise(c2, markus, open, desk).await.unwrap();
    let service = |name: &str, active: bool| ServiceInput {
        name: name.into(),
        description: format!("{name}: Betreuung aller Arbeitsplätze.\nZweiter Absatz."),
        active,
    };
    let k1_service = app
        .store
        .add_service(k1, &service("Managed Workplace", true), desk)
        .await
        .unwrap();
    app.store
        .add_service(k1, &service("Altes Telefonsystem", false), desk)
        .await
        .unwrap();
    let k2_service = app
        .store
        .add_service(k2, &service("Netzleitstelle", true), desk)
        .await
        .unwrap();
    let system = |name: &str, user: Option<Id>| SystemInput {
        kind: SystemKind::Laptop,
        name: name.into(),
        inventory_number: format!("INV-{name}"),
        user,
        active: true,
    };
    let k1_system = app
        .store
        .add_system(k1, &system("ThinkPad Thomas", Some(thomas)), desk)
        .await
        .unwrap();
    let k2_system = app
        .store
        .add_system(k2, &system("Leitstand-PC", Some(leonie)), desk)
        .await
        .unwrap();
    World {
        app,
        k1,
        k2,
        k3,
        sabine,
        thomas,
        leonie,
        k1_service,
        k2_service,
        k1_system,
        k2_system,
    }
}

impl World {
    async fn signed_in(&self, email: &str) -> Client {
        let mut client = self.app.client();
        client.enrol(email).await;
        client
    }
}

/// The form "Neues Ticket für jemanden" with the required fields.
fn for_someone(csrf: String, reported_for: Id) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("reported_for_id", reported_for.to_string())
        .text("short_text", "Drucker druckt nicht")
        .text(
            "description",
            "Seit heute früh kommt nichts aus dem Drucker.",
        )
        .text("impact", "person")
        .text("urgency", "restricted")
        .text("ticket_type", "incident")
}

async fn my_open(client: &Client) -> Page {
    client.get("/catalog/my-open").await
}

#[tokio::test]
async fn an_authorised_person_reports_for_a_colleague_who_then_sees_it() {
    let w = world().await;
    let sabine = w.signed_in("sabine@example.de").await;
    let home = sabine.get("/").await;
    assert!(home.contains("Neues Ticket für jemanden anlegen"));
    let form = sabine.get("/tickets/new-for-someone").await;
    assert_eq!(form.status, 200);
    assert!(form.contains("Neues Ticket für jemanden anlegen"));
    assert!(
        form.contains("Sie finden die Person nicht?"),
        "the hint of 5.2"
    );

    // The picker offers the colleagues of her business partner only.
    let found = sabine
        .get(&format!("/pickers/persons?mode=someone&bp={}&q=thom", w.k1))
        .await;
    assert_eq!(found.status, 200);
    assert!(found.contains("Thomas Becker") && found.contains("thomas@example.de"));
    let everyone = sabine
        .get(&format!("/pickers/persons?mode=someone&bp={}", w.k1))
        .await;
    assert!(!everyone.contains("Leonie") && !everyone.contains("Frieda"));

    let created = sabine
        .post_multipart(
            "/tickets/new-for-someone",
            for_someone(sabine.csrf().await, w.thomas),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let number = ticket_number(&created);
    assert!(created.contains("Thomas Becker") && created.contains("Sabine Krause"));

    // Under the business partner's open tickets for her, under his own
    // open tickets for him, nowhere for the other business partner.
    assert!(sabine.get("/catalog/partner-open").await.contains(&number));
    let thomas = w.signed_in("thomas@example.de").await;
    assert!(my_open(&thomas).await.contains(&number));
    assert_eq!(thomas.get(&format!("/tickets/{number}")).await.status, 200);
    let leonie = w.signed_in("leonie@example.de").await;
    assert!(!my_open(&leonie).await.contains(&number));
    assert_eq!(leonie.get(&format!("/tickets/{number}")).await.status, 404);
}

#[tokio::test]
async fn the_picker_works_without_javascript_and_keeps_what_was_typed() {
    let w = world().await;
    let sabine = w.signed_in("sabine@example.de").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", sabine.csrf().await)
        .text("short_text", "Monitor flackert")
        .text("picker", "reported_for")
        .text("reported_for_q", "Becker");
    let page = sabine
        .post_multipart("/tickets/new-for-someone", form)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.contains(&format!("name=\"reported_for_id\" value=\"{}\"", w.thomas)));
    assert!(page.contains("Thomas Becker"));
    assert!(page.contains("value=\"Monitor flackert\""));
    assert!(
        !page.contains("Sabine Krause</label>"),
        "only matches are offered"
    );
    // Applying the choice shows it as chosen, the search closed.
    let form = reqwest::multipart::Form::new()
        .text("csrf", sabine.csrf().await)
        .text("short_text", "Monitor flackert")
        .text("reported_for_id", w.thomas.to_string())
        .text("picker_done", "reported_for");
    let page = sabine
        .post_multipart("/tickets/new-for-someone", form)
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.contains("id=\"reported_for-label\">Thomas Becker</span>"),
        "{}",
        page.body
    );
    assert!(page.contains(&format!(
        "type=\"hidden\" name=\"reported_for_id\" value=\"{}\"",
        w.thomas
    )));
    assert!(!page.contains("reported_for_q"), "the search is closed");

    // The system picker lists Thomas's laptop first once he is chosen.
    let form = reqwest::multipart::Form::new()
        .text("csrf", sabine.csrf().await)
        .text("reported_for_id", w.thomas.to_string())
        .text("picker", "system");
    let page = sabine
        .post_multipart("/tickets/new-for-someone", form)
        .await;
    assert!(page.contains("ThinkPad Thomas") && !page.contains("Leitstand-PC"));
    assert!(page.contains(&format!("name=\"system_id\" value=\"{}\"", w.k1_system)));
}

#[tokio::test]
async fn forged_ids_in_the_form_are_refused_and_reveal_nothing() {
    let w = world().await;
    let sabine = w.signed_in("sabine@example.de").await;
    let refused = |page: &Page, field: &str| {
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.contains(&format!("id=\"{field}-error\"")),
            "{field} is named: {}",
            page.body
        );
        for foreign in [
            "Leonie",
            "Stadtwerke",
            "Netzleitstelle",
            "Leitstand",
            "Fremd",
        ] {
            assert!(!page.contains(foreign), "{foreign} leaked");
        }
    };
    // A person of another business partner as "reported for".
    let page = sabine
        .post_multipart(
            "/tickets/new-for-someone",
            for_someone(sabine.csrf().await, w.leonie),
        )
        .await;
    refused(&page, "reported_for");
    // A person id that does not exist, and one that is not a number.
    let page = sabine
        .post_multipart(
            "/tickets/new-for-someone",
            for_someone(sabine.csrf().await, 999_999),
        )
        .await;
    refused(&page, "reported_for");
    // Another business partner's service and system.
    let form =
        for_someone(sabine.csrf().await, w.thomas).text("service_id", w.k2_service.to_string());
    refused(
        &sabine
            .post_multipart("/tickets/new-for-someone", form)
            .await,
        "service",
    );
    let form =
        for_someone(sabine.csrf().await, w.thomas).text("system_id", w.k2_system.to_string());
    refused(
        &sabine
            .post_multipart("/tickets/new-for-someone", form)
            .await,
        "system",
    );
    // A retired service of her own business partner is no choice either.
    let retired = w
        .app
        .store
        .services_of_partners(&[w.k1], true)
        .await
        .unwrap();
    let retired = retired.iter().find(|s| !s.active).unwrap().id;
    let form = for_someone(sabine.csrf().await, w.thomas).text("service_id", retired.to_string());
    refused(
        &sabine
            .post_multipart("/tickets/new-for-someone", form)
            .await,
        "service",
    );
    // Another business partner's id: she has one, so it is hers whatever
    // the form says.
    let form =
        for_someone(sabine.csrf().await, w.thomas).text("business_partner_id", w.k3.to_string());
    let page = sabine
        .post_multipart("/tickets/new-for-someone", form)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.contains("Müller GmbH"));
    // Nothing was written by the refused ones: one ticket in the list.
    let list = sabine.get("/catalog/partner-open").await;
    assert_eq!(list.body.matches("data-href=\"/tickets/").count(), 1);

    // An end user cannot report for others at all, and a "reported for"
    // smuggled into the form for oneself is ignored.
    let thomas = w.signed_in("thomas@example.de").await;
    let page = thomas
        .post_multipart(
            "/tickets/new-for-someone",
            for_someone(thomas.csrf().await, w.sabine),
        )
        .await;
    assert_eq!(page.status, 404);
    let page = thomas
        .post_multipart("/tickets/new", for_someone(thomas.csrf().await, w.sabine))
        .await;
    assert_eq!(page.status, 200);
    let number = ticket_number(&page);
    assert!(my_open(&thomas).await.contains(&number));
    let sabine_mine = my_open(&sabine).await;
    assert!(!sabine_mine.contains(&number), "not reported for Sabine");
}

#[tokio::test]
async fn pickers_answer_404_outside_the_persons_authority() {
    let w = world().await;
    let thomas = w.signed_in("thomas@example.de").await;
    // An end user may not list persons, not even of his own partner.
    let page = thomas
        .get(&format!("/pickers/persons?mode=someone&bp={}", w.k1))
        .await;
    assert_eq!(page.status, 404);
    // Services and systems: his own business partner's only.
    let own = thomas.get(&format!("/pickers/services?bp={}", w.k1)).await;
    assert!(own.contains("Managed Workplace") && !own.contains("Altes Telefonsystem"));
    for kind in ["services", "systems"] {
        for bp in [w.k2, w.k3, 999_999] {
            let page = thomas.get(&format!("/pickers/{kind}?bp={bp}")).await;
            assert_eq!(page.status, 404, "{kind} of {bp}");
        }
    }
    let partners = thomas.get("/pickers/partners").await;
    assert!(partners.contains("Müller GmbH") && !partners.contains("Stadtwerke"));
    // Markus is authorised at K-2 only: its persons, not K-1's.
    let markus = w.signed_in("markus@example.de").await;
    let k2 = markus
        .get(&format!("/pickers/persons?mode=someone&bp={}", w.k2))
        .await;
    assert!(k2.contains("Leonie Fischer"));
    let k1 = markus
        .get(&format!("/pickers/persons?mode=someone&bp={}", w.k1))
        .await;
    assert_eq!(k1.status, 404);
    let partners = markus.get("/pickers/partners?mode=someone").await;
    assert!(partners.contains("Stadtwerke") && !partners.contains("Müller"));
}

#[tokio::test]
async fn authority_that_has_ended_shows_nothing_of_colleagues() {
    let w = world().await;
    let thomas = w.signed_in("thomas@example.de").await;
    let page = thomas.create_ticket("Tastatur klemmt", &[]).await;
    let number = ticket_number(&page);
    let petra = w.signed_in("petra@example.de").await;
    let home = petra.get("/").await;
    assert!(!home.contains("Neues Ticket für jemanden anlegen"));
    assert!(!home.contains("meiner Geschäftspartner"));
    assert_eq!(petra.get("/catalog/partner-open").await.status, 404);
    assert_eq!(petra.get("/catalog/partner-closed").await.status, 404);
    assert_eq!(petra.get("/tickets/new-for-someone").await.status, 404);
    assert_eq!(petra.get(&format!("/tickets/{number}")).await.status, 404);
    assert!(!my_open(&petra).await.contains(&number));
    // Sabine, in force, sees it.
    let sabine = w.signed_in("sabine@example.de").await;
    assert_eq!(sabine.get(&format!("/tickets/{number}")).await.status, 200);
}

#[tokio::test]
async fn business_partner_lists_are_per_partner_for_persons_of_several() {
    let w = world().await;
    // Make Markus authorised at K-1 as well.
    let contracts = w.app.store.contracts_of(w.k1, now()).await.unwrap();
    let markus_id = w
        .app
        .store
        .members_of(w.k1, now())
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.person.name == "Markus Hoffmann")
        .unwrap()
        .person
        .id;
    let desk = Change {
        actor: None,
        at: now(),
    };
    let period = Period::new(now() - DAY, None).unwrap();
    w.app
        .store
        .authorise(contracts[0].id, markus_id, period, desk)
        .await
        .unwrap();

    let leonie = w.signed_in("leonie@example.de").await;
    let number = ticket_number(&leonie.create_ticket("Zählerstand fehlt", &[]).await);
    let markus = w.signed_in("markus@example.de").await;
    let home = markus.get("/").await;
    assert!(home.contains("Offene Tickets meiner Geschäftspartner: Müller GmbH"));
    assert!(home.contains("Offene Tickets meiner Geschäftspartner: Stadtwerke Lindenau"));
    let k2 = markus.get(&format!("/catalog/partner-open-{}", w.k2)).await;
    assert_eq!(k2.status, 200);
    assert!(k2.contains(&number) && k2.contains("Stadtwerke Lindenau"));
    let k1 = markus.get(&format!("/catalog/partner-open-{}", w.k1)).await;
    assert!(!k1.contains(&number));
    for name in [
        format!("partner-open-{}", w.k3),
        "partner-open-x".into(),
        format!("my-open-{}", w.k1),
    ] {
        assert_eq!(
            markus.get(&format!("/catalog/{name}")).await.status,
            404,
            "{name}"
        );
    }
    // Sabine, authorised at one partner, has the plain tiles.
    let sabine = w.signed_in("sabine@example.de").await;
    let home = sabine.get("/").await;
    assert!(home.contains(">Offene Tickets meiner Geschäftspartner</a>"));
    assert_eq!(
        sabine
            .get(&format!("/catalog/partner-open-{}", w.k2))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn my_services_shows_the_booked_services_of_my_business_partners() {
    let w = world().await;
    let thomas = w.signed_in("thomas@example.de").await;
    assert!(thomas.get("/").await.contains("Meine Services"));
    let list = thomas.get("/services").await;
    assert!(list.contains("Managed Workplace"));
    assert!(
        !list.contains("Altes Telefonsystem"),
        "retired services are not listed"
    );
    assert!(!list.contains("Netzleitstelle"));
    let page = thomas.get(&format!("/services/{}", w.k1_service)).await;
    assert!(page.contains("Enthaltene Leistungen") && page.contains("Zweiter Absatz."));
    assert_eq!(
        thomas
            .get(&format!("/services/{}", w.k2_service))
            .await
            .status,
        404
    );
    assert_eq!(thomas.get("/services/999999").await.status, 404);
    assert_eq!(thomas.get("/services/abc").await.status, 404);

    let markus = w.signed_in("markus@example.de").await;
    let list = markus.get("/services").await;
    assert!(list.contains("Müller GmbH (K-1)") && list.contains("Netzleitstelle"));

    w.app.agent("desk@example.com", "Dana Desk").await;
    let desk = w.signed_in("desk@example.com").await;
    assert!(!desk.get("/").await.contains("Meine Services"));
    assert_eq!(desk.get("/services").await.status, 404);
}

/// Who uses which system is the persons' business: an end user sees his
/// own name at his system and no colleague's, and cannot search systems by
/// a colleague's name; the authorised person sees every user.
#[tokio::test]
async fn the_system_picker_tells_end_users_no_colleagues_names() {
    let w = world().await;
    let desk = ticketwerk_storage::Change {
        actor: None,
        at: now(),
    };
    let input = SystemInput {
        kind: SystemKind::Monitor,
        name: "Monitor Empfang".into(),
        inventory_number: "INV-M1".into(),
        user: Some(w.sabine),
        active: true,
    };
    w.app.store.add_system(w.k1, &input, desk).await.unwrap();
    let thomas = w.signed_in("thomas@example.de").await;
    let all = thomas.get(&format!("/pickers/systems?bp={}", w.k1)).await;
    assert!(all.contains("Monitor Empfang"), "{}", all.body);
    assert!(
        all.contains("Thomas Becker"),
        "his own system shows his name"
    );
    assert!(!all.contains("Sabine Krause"), "{}", all.body);
    let by_name = thomas
        .get(&format!("/pickers/systems?bp={}&q=Krause", w.k1))
        .await;
    assert!(!by_name.contains("Monitor Empfang"), "{}", by_name.body);

    let sabine = w.signed_in("sabine@example.de").await;
    let hers = sabine
        .get(&format!("/pickers/systems?bp={}&q=Becker", w.k1))
        .await;
    assert!(hers.contains("ThinkPad Thomas") && hers.contains("Thomas Becker"));

    // Whose systems come first is no more his business than the names: a
    // colleague's id as `first` leaves his list in its usual order, while
    // the authorised person gets that colleague's systems first.
    let late = SystemInput {
        name: "Zeiterfassung Empfang".into(),
        inventory_number: "INV-Z1".into(),
        ..input
    };
    w.app.store.add_system(w.k1, &late, desk).await.unwrap();
    let position = |body: &str, name: &str| body.find(name).unwrap();
    let plain = thomas.get(&format!("/pickers/systems?bp={}", w.k1)).await;
    let probed = thomas
        .get(&format!("/pickers/systems?bp={}&first={}", w.k1, w.sabine))
        .await;
    assert_eq!(plain.body, probed.body);
    assert!(
        position(&probed.body, "ThinkPad Thomas") < position(&probed.body, "Zeiterfassung Empfang")
    );
    let sorted = sabine
        .get(&format!("/pickers/systems?bp={}&first={}", w.k1, w.sabine))
        .await;
    assert!(
        position(&sorted.body, "Zeiterfassung Empfang") < position(&sorted.body, "ThinkPad Thomas"),
        "{}",
        sorted.body
    );
}
