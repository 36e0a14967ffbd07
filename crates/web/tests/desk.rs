//! The desk keeps master data: business partners, persons, memberships,
//! contracts and authorisations, services and systems, over HTTP against
//! the real server, as an agent clicks through the forms.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Client, Page, TestApp, element_text, spawn};
use ticketwerk_domain::masterdata::UnitInput;
use ticketwerk_storage::Change;

const PARTNER_OPEN: &str = "Offene Tickets meiner Geschäftspartner";

/// An agent, signed in.
async fn desk(app: &TestApp) -> Client {
    app.agent("dana@desk.example", "Dana Desk").await;
    let mut dana = app.client();
    dana.enrol("dana@desk.example").await;
    dana
}

/// The path of the page a form led to, without `?saved=1`.
fn path_of(page: &Page) -> String {
    let after_host = page.url.split_once("://").unwrap().1;
    let path = &after_host[after_host.find('/').unwrap()..];
    path.split(['?', '#']).next().unwrap().to_string()
}

/// The id at the end of a page's path.
fn id_of(page: &Page) -> String {
    path_of(page).rsplit('/').next().unwrap().to_string()
}

/// A day in the provider's zone, `days` from today, as a date input sends it.
fn day(days: i64) -> String {
    let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let today = jiff::Zoned::now().with_time_zone(zone).date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

/// The address of the first link or form on a page after `before`, as
/// the browser asks for it.
fn link(page: &Page, before: &str) -> String {
    let at = page.body.find(before).unwrap() + before.len();
    let end = at + page.body[at..].find('"').unwrap();
    let address = page.body[at..end]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    address.split('#').next().unwrap().to_string()
}

/// How often a text stands on a page.
fn count(page: &Page, text: &str) -> usize {
    page.body.matches(text).count()
}

#[tokio::test]
async fn an_authorisation_gives_rights_from_its_day_and_ending_it_takes_them_at_once() {
    let app = spawn().await;
    let dana = desk(&app).await;
    let csrf = dana.csrf().await;

    let partner = dana
        .post(
            "/desk/partners/new",
            &[
                ("csrf", &csrf),
                ("customer_number", "K-200"),
                ("name", "Bäckerei Korn"),
            ],
        )
        .await;
    assert_eq!(partner.status, 200, "{}", partner.body);
    assert!(partner.contains("Gespeichert."));
    let partner_path = path_of(&partner);

    let person = dana
        .post(
            "/desk/persons/new",
            &[
                ("csrf", &csrf),
                ("name", "Eva Roth"),
                ("email", "Eva.Roth@Korn.example"),
                ("phone", "+49 30 1234"),
                ("language", "de"),
            ],
        )
        .await;
    assert_eq!(person.status, 200, "{}", person.body);
    assert!(person.contains("eva.roth@korn.example"));
    let person_path = path_of(&person);
    let joined = dana
        .post(
            &format!("{person_path}/memberships"),
            &[("csrf", &csrf), ("customer_number", "K-200")],
        )
        .await;
    assert!(joined.contains("Bäckerei Korn"), "{}", joined.body);

    let yesterday = day(-1);
    let contract = dana
        .post(
            &format!("{partner_path}/contracts"),
            &[
                ("csrf", &csrf),
                ("name", "Rahmenvertrag 2026"),
                ("valid_from", &yesterday),
                ("valid_until", ""),
            ],
        )
        .await;
    assert_eq!(contract.status, 200, "{}", contract.body);
    assert!(contract.contains("Rahmenvertrag 2026"));
    let contract_path = path_of(&contract);
    let authorised = dana
        .post(
            &format!("{contract_path}/authorisations"),
            &[
                ("csrf", &csrf),
                ("person_id", &id_of(&person)),
                ("valid_from", &day(0)),
                ("valid_until", ""),
            ],
        )
        .await;
    assert_eq!(authorised.status, 200, "{}", authorised.body);
    assert!(authorised.contains("Eva Roth"));
    assert!(
        !authorised.contains("outside-contract"),
        "within the contract's term"
    );
    // Named once: she is not offered again while her authorisation runs.
    let offered = format!("<option value=\"{}\"", id_of(&person));
    assert!(!authorised.contains(&offered), "{}", authorised.body);
    assert!(authorised.contains("id=\"all-authorised\""));

    let password_page = dana
        .post(&format!("{person_path}/password"), &[("csrf", &csrf)])
        .await;
    let password = element_text(&password_page.body, "initial-password").unwrap();
    let mut eva = app.client();
    eva.enrol_with("eva.roth@korn.example", &password).await;
    assert!(eva.get("/").await.contains(PARTNER_OPEN));
    assert_eq!(eva.get("/catalog/partner-open").await.status, 200);

    let contract_page = dana.get(&contract_path).await;
    let authorisation = link(&contract_page, "action=\"/desk/authorisations/");
    let ended = dana
        .post(
            &format!("/desk/authorisations/{authorisation}/end"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(ended.contains("nicht in Kraft"));
    assert!(ended.contains(&offered), "ended, she can be named again");
    // Ended at a moment: the page and the change log say when, not a day.
    assert!(ended.contains(" Uhr</p>"), "{}", ended.body);
    let log = dana.get(&partner_path).await;
    let log = log.body.split_once("id=\"history\"").unwrap().1;
    assert!(
        log.contains("unbefristet → ") && log.contains(" Uhr</li>"),
        "{log}"
    );
    assert!(
        !ended.contains("Jetzt beenden"),
        "an ended authorisation cannot end again"
    );

    assert!(!eva.get("/").await.contains(PARTNER_OPEN));
    assert_eq!(eva.get("/catalog/partner-open").await.status, 404);

    // Saving the ended authorisation's period unchanged (its last day is
    // today) keeps the second it ended at: the rights stay gone.
    let resaved = dana
        .post(
            &format!("/desk/authorisations/{authorisation}"),
            &[
                ("csrf", &csrf),
                ("valid_from", &day(0)),
                ("valid_until", &day(0)),
            ],
        )
        .await;
    assert_eq!(resaved.status, 200, "{}", resaved.body);
    assert!(resaved.contains("nicht in Kraft"), "{}", resaved.body);
    assert_eq!(eva.get("/catalog/partner-open").await.status, 404);
    // A later last day is a deliberate extension and is honoured.
    dana.post(
        &format!("/desk/authorisations/{authorisation}"),
        &[
            ("csrf", &csrf),
            ("valid_from", &day(0)),
            ("valid_until", &day(1)),
        ],
    )
    .await;
    assert_eq!(eva.get("/catalog/partner-open").await.status, 200);
    // Dates before the contract's start are taken, with a word that only
    // the contract's term counts.
    let early = dana
        .post(
            &format!("/desk/authorisations/{authorisation}"),
            &[
                ("csrf", &csrf),
                ("valid_from", &day(-5)),
                ("valid_until", &day(1)),
            ],
        )
        .await;
    assert!(early.contains("gilt nur, solange auch der Vertrag gilt"));
}

#[tokio::test]
async fn refused_forms_name_the_field_keep_the_input_and_write_nothing() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let other = app.business_partner("K-2", "Schmidt AG").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let stranger = app.customer("otto@example.de", "Otto Fremd", other).await;
    let dana = desk(&app).await;
    let csrf = dana.csrf().await;

    let empty = dana
        .post(
            "/desk/partners/new",
            &[
                ("csrf", &csrf),
                ("customer_number", " "),
                ("name", "Neue Firma"),
            ],
        )
        .await;
    assert_eq!(empty.status, 422);
    assert_eq!(
        element_text(&empty.body, "customer_number-error").unwrap(),
        "Bitte füllen Sie dieses Feld aus."
    );
    assert!(empty.contains("Bitte prüfen Sie die markierten Felder."));
    assert!(empty.contains("value=\"Neue Firma\""), "typed text is kept");

    let taken = dana
        .post(
            "/desk/partners/new",
            &[
                ("csrf", &csrf),
                ("customer_number", "K-1"),
                ("name", "Doppelt GmbH"),
            ],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert_eq!(
        element_text(&taken.body, "customer_number-error").unwrap(),
        "Diese Kundennummer ist bereits vergeben."
    );
    let list = dana.get("/desk/partners").await;
    assert!(!list.contains("Neue Firma") && !list.contains("Doppelt GmbH"));
    assert_eq!(count(&list, "<td>K-1</td>"), 1);

    let person = |email: &'static str| {
        [
            ("csrf", csrf.as_str()),
            ("name", "Neu Person"),
            ("email", email),
            ("language", "de"),
        ]
    };
    let bad = dana
        .post("/desk/persons/new", &person("kein-at-zeichen"))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        element_text(&bad.body, "email-error").unwrap(),
        "Bitte geben Sie eine gültige E-Mail-Adresse ein."
    );
    let twice = dana
        .post("/desk/persons/new", &person("ANNA@example.de"))
        .await;
    assert_eq!(twice.status, 422);
    assert_eq!(
        element_text(&twice.body, "email-error").unwrap(),
        "Diese E-Mail-Adresse gehört bereits zu einer anderen Person."
    );
    assert!(!dana.get("/desk/persons").await.contains("Neu Person"));

    let partner_path = format!("/desk/partners/{bp}");
    let backwards = dana
        .post(
            &format!("{partner_path}/contracts"),
            &[
                ("csrf", &csrf),
                ("name", "Rückwärtsvertrag"),
                ("valid_from", &day(10)),
                ("valid_until", &day(9)),
            ],
        )
        .await;
    assert_eq!(backwards.status, 422);
    assert_eq!(
        element_text(&backwards.body, "contract-valid_until-error").unwrap(),
        "„Gültig bis“ darf nicht vor „Gültig ab“ liegen."
    );
    let no_date = dana
        .post(
            &format!("{partner_path}/contracts"),
            &[
                ("csrf", &csrf),
                ("name", "Ohne Datum"),
                ("valid_from", "31.12.2026"),
            ],
        )
        .await;
    assert_eq!(
        element_text(&no_date.body, "contract-valid_from-error").unwrap(),
        "Bitte geben Sie ein gültiges Datum ein."
    );
    let partner_page = dana.get(&partner_path).await;
    assert!(!partner_page.contains("Rückwärtsvertrag") && !partner_page.contains("Ohne Datum"));

    let contract = dana
        .post(
            &format!("{partner_path}/contracts"),
            &[
                ("csrf", &csrf),
                ("name", "Rahmenvertrag"),
                ("valid_from", &day(0)),
            ],
        )
        .await;
    let contract_path = path_of(&contract);
    let forged = dana
        .post(
            &format!("{contract_path}/authorisations"),
            &[
                ("csrf", &csrf),
                ("person_id", &stranger.to_string()),
                ("valid_from", &day(0)),
            ],
        )
        .await;
    assert_eq!(forged.status, 422);
    assert_eq!(
        element_text(&forged.body, "authorise-person_id-error").unwrap(),
        "Diese Person gehört nicht zu diesem Geschäftspartner."
    );
    assert!(!dana.get(&contract_path).await.contains("Otto Fremd"));
}

#[tokio::test]
async fn the_change_log_names_who_changed_which_field_from_what_to_what() {
    let app = spawn().await;
    let bp = app.business_partner("K-7", "Alt GmbH").await;
    let dana = desk(&app).await;
    let csrf = dana.csrf().await;

    let path = format!("/desk/partners/{bp}");
    let saved = dana
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("customer_number", "K-7"),
                ("name", "Neu GmbH"),
            ],
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.contains("Gespeichert."));

    let history = &saved.body[saved.body.find("id=\"history\"").unwrap()..];
    assert!(history.contains("Dana Desk"));
    assert!(history.contains("geändert"));
    assert!(history.contains("Name: Alt GmbH → Neu GmbH"));
    assert!(
        !history.contains("Kundennummer:"),
        "unchanged fields are not logged"
    );

    let unit = dana
        .post(
            &format!("{path}/units"),
            &[("csrf", &csrf), ("kind", "location"), ("name", "Werk Süd")],
        )
        .await;
    let history = &unit.body[unit.body.find("id=\"history\"").unwrap()..];
    assert!(history.contains("Art: Standort") && history.contains("Name: Werk Süd"));
}

#[tokio::test]
async fn customers_find_no_desk_page_even_when_authorised() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna = app.person("anna@example.de", "Anna Berg", false).await;
    app.store.add_membership(anna, bp, true).await.unwrap();
    let now = common::now();
    let contract = &app.store.contracts_of(bp, now).await.unwrap()[0];
    let change = Change {
        actor: None,
        at: now,
    };
    let unit_input = UnitInput::parse("department", "Einkauf").unwrap();
    let held = app
        .deliver_mail("From: x@example.org\r\nSubject: Hallo\r\n\r\nText\r\n")
        .await;
    let ids = HashMap::from([
        ("mail", held),
        ("partners", bp),
        ("persons", anna),
        ("contracts", contract.id),
        ("authorisations", contract.authorisations[0].id),
        (
            "services",
            app.store
                .create_service(bp, "Arbeitsplatz", "")
                .await
                .unwrap(),
        ),
        (
            "systems",
            app.store
                .create_system(bp, "laptop", "NB-1", "", Some(anna))
                .await
                .unwrap(),
        ),
        (
            "units",
            app.store.add_unit(bp, &unit_input, change).await.unwrap(),
        ),
    ]);
    let dana = desk(&app).await;
    let mut customer = app.client();
    customer.enrol("anna@example.de").await;
    let home = customer.get("/").await;
    assert!(home.contains(PARTNER_OPEN), "she is authorised");
    assert!(!home.contains("Stammdaten"));
    assert!(dana.get("/").await.contains("Stammdaten"));

    let csrf = customer.csrf().await;
    let today = day(0);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Gekapert"),
        ("customer_number", "K-1"),
        ("email", "anna@example.de"),
        ("language", "de"),
        ("kind", "laptop"),
        ("person_id", "1"),
        ("valid_from", today.as_str()),
        ("contract", "1"),
    ];
    let desk_routes = ticketwerk_web::ROUTES
        .iter()
        .filter(|(_, path)| path.starts_with("/desk/"));
    for (method, route) in desk_routes {
        let path = concrete(route, &ids);
        if *method == "GET" {
            assert_eq!(customer.get(&path).await.status, 404, "GET {path}");
            assert_eq!(dana.get(&path).await.status, 200, "GET {path} at the desk");
        } else {
            assert_eq!(customer.post(&path, &form).await.status, 404, "POST {path}");
        }
    }
    let partner = app.store.partner(bp).await.unwrap().unwrap();
    assert_eq!(partner.name, "Müller GmbH");
    let contract = &app.store.contracts_of(bp, common::now()).await.unwrap()[0];
    assert!(contract.authorisations[0].in_force);
    assert_eq!(app.store.units_of(bp).await.unwrap().len(), 1);
    assert!(
        customer.get("/").await.contains(PARTNER_OPEN),
        "nothing changed"
    );
}

/// A route with its placeholders filled from the ids of the objects.
fn concrete(route: &str, ids: &HashMap<&str, i64>) -> String {
    let mut previous = "";
    let mut parts = Vec::new();
    for segment in route.split('/') {
        let part = match segment {
            "{id}" => ids[previous].to_string(),
            "{unit}" => ids["units"].to_string(),
            "{partner}" => ids["partners"].to_string(),
            "{file}" => "persons.csv".to_string(),
            other => other.to_string(),
        };
        parts.push(part);
        previous = segment;
    }
    parts.join("/")
}

#[tokio::test]
async fn an_initial_password_is_shown_once_and_starts_a_new_enrolment() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna = app.customer("anna@example.de", "Anna Berg", bp).await;
    let dana = desk(&app).await;
    let mut before = app.client();
    before.enrol("anna@example.de").await;

    let csrf = dana.csrf().await;
    let response = dana
        .http
        .post(format!("{}/desk/persons/{anna}/password", dana.base))
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    let password = element_text(&body, "initial-password").unwrap();
    assert_eq!(password.len(), 20, "{password}");
    assert!(body.contains("Authenticator-App"));

    assert!(
        before.get("/").await.url.ends_with("/login"),
        "her sessions ended"
    );
    let old = app
        .client()
        .password("anna@example.de", common::PASSWORD)
        .await;
    assert_eq!(old.status, 401, "the old password is gone");
    let mut anna_again = app.client();
    let codes = anna_again.enrol_with("anna@example.de", &password).await;
    assert!(codes.contains("Wiederherstellungscodes"));
    assert!(anna_again.get("/").await.contains("Anna Berg"));

    let person_page = dana.get(&format!("/desk/persons/{anna}")).await;
    assert!(
        !person_page.contains(&password),
        "the password is shown once"
    );
    assert!(person_page.contains("Initialpasswort gesetzt"));
}

#[tokio::test]
async fn desk_users_are_shown_but_not_kept_here_and_unknown_ids_are_not_found() {
    let app = spawn().await;
    let dana = desk(&app).await;
    let csrf = dana.csrf().await;
    let own = dana.get("/desk/persons").await;
    assert!(own.contains("Dana Desk"));
    let page = dana.get("/desk/persons/1").await;
    assert_eq!(page.status, 200);
    assert!(!page.contains("/desk/persons/1/password"));
    assert!(!page.contains("name=\"customer_number\""));
    let refused = dana
        .post("/desk/persons/1/password", &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 404);

    // Another desk user's sign-in is not Dana's to link: an identity she
    // controls would let her act in his name.
    let erik = app.agent("erik@example.com", "Erik Desk").await;
    let his = dana.get(&format!("/desk/persons/{erik}")).await;
    assert_eq!(his.status, 200);
    assert!(!his.contains("id=\"identities\""), "{}", his.body);
    assert!(his.contains(&format!("/desk/audit?person={erik}")));
    for action in ["identities", "invitations"] {
        let forged = dana
            .post(
                &format!("/desk/persons/{erik}/{action}"),
                &[("csrf", &csrf), ("provider", "idp"), ("subject", "x")],
            )
            .await;
        assert_eq!(forged.status, 404, "{action}");
    }
    assert!(
        page.contains("id=\"identities\""),
        "her own sign-in is hers to link"
    );

    for path in [
        "/desk/partners/99",
        "/desk/partners/abc",
        "/desk/contracts/1x",
        "/desk/systems/-1",
    ] {
        assert_eq!(dana.get(path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn the_lists_search_and_page() {
    let app = spawn().await;
    for i in 0..55 {
        app.business_partner(&format!("K-{i:03}"), &format!("Firma {i:03}"))
            .await;
    }
    let dana = desk(&app).await;

    let first = dana.get("/desk/partners").await;
    assert!(first.contains("Firma 000") && first.contains("Firma 049"));
    assert!(!first.contains("Firma 050"));
    let second = dana.get(&link(&first, "rel=\"next\" href=\"")).await;
    assert!(second.contains("Firma 050") && !second.contains("Firma 049"));
    let found = dana.get("/desk/partners?q=k-054").await;
    assert!(found.contains("Firma 054") && !found.contains("Firma 053"));
    let persons = dana.get("/desk/persons?q=DESK.example").await;
    assert!(persons.contains("Dana Desk"));
    assert!(
        dana.get("/desk/persons?q=nobody")
            .await
            .contains("Nichts passt zur Suche.")
    );
}

#[tokio::test]
async fn services_and_systems_are_added_and_kept_on_their_pages() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna = app.customer("anna@example.de", "Anna Berg", bp).await;
    let anna = anna.to_string();
    let other = app.business_partner("K-2", "Schmidt AG").await;
    let stranger = app.customer("otto@example.de", "Otto Fremd", other).await;
    let dana = desk(&app).await;
    let csrf = dana.csrf().await;
    let partner_path = format!("/desk/partners/{bp}");

    let service = dana
        .post(
            &format!("{partner_path}/services"),
            &[
                ("csrf", &csrf),
                ("name", "Arbeitsplatz"),
                ("description", "Betrieb der Arbeitsplätze"),
                ("active", "1"),
            ],
        )
        .await;
    assert!(service.url.ends_with(&format!("{partner_path}?saved=1")));
    assert!(service.contains("Gespeichert.") && service.contains("In Betrieb"));
    let service_id = link(&service, "href=\"/desk/services/");
    let retired = dana
        .post(
            &format!("/desk/services/{service_id}"),
            &[
                ("csrf", &csrf),
                ("name", "Arbeitsplatz alt"),
                ("description", ""),
            ],
        )
        .await;
    assert!(retired.contains("Gespeichert.") && retired.contains("außer Betrieb"));
    assert!(retired.contains(&format!("href=\"/desk/partners/{bp}#services\"")));

    let system = dana
        .post(
            &format!("{partner_path}/systems"),
            &[
                ("csrf", &csrf),
                ("kind", "monitor"),
                ("name", "Bildschirm 1"),
                ("user_id", &anna),
                ("active", "1"),
            ],
        )
        .await;
    assert!(system.contains("<td>Bildschirm</td>") && system.contains("<td>Anna Berg</td>"));
    let system_id = link(&system, "href=\"/desk/systems/");
    let system_path = format!("/desk/systems/{system_id}");
    let refused = dana
        .post(
            &system_path,
            &[
                ("csrf", &csrf),
                ("kind", "toaster"),
                ("name", ""),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        element_text(&refused.body, "kind-error")
            .unwrap()
            .starts_with("Möglich sind: laptop, desktop, monitor"),
        "{}",
        refused.body
    );
    assert_eq!(
        element_text(&refused.body, "name-error").unwrap(),
        "Bitte füllen Sie dieses Feld aus."
    );
    let forged = dana
        .post(
            &system_path,
            &[
                ("csrf", &csrf),
                ("kind", "monitor"),
                ("name", "Bildschirm 1"),
                ("user_id", &stranger.to_string()),
            ],
        )
        .await;
    assert_eq!(
        element_text(&forged.body, "user_id-error").unwrap(),
        "Diese Person gehört nicht zu diesem Geschäftspartner."
    );
    let unchanged = dana.get(&system_path).await;
    assert!(unchanged.contains(&format!("<option value=\"{anna}\" selected>Anna Berg")));
}
