//! The portal as customers and agents use it, over HTTP against the real
//! server: sign-in with two factors, tickets from report to solution, and
//! what one business partner can never see of another.
#![allow(clippy::unwrap_used)]

mod common;

use common::{PASSWORD, element_text, now, spawn, ticket_number};
use ticketwerk_domain::auth::TotpSecret;

#[tokio::test]
async fn anonymous_visitors_get_the_sign_in_page() {
    let app = spawn().await;
    let client = app.client();
    for path in [
        "/",
        "/catalog/my-open",
        "/tickets/new",
        "/tickets/2026-000001",
    ] {
        let page = client.get(path).await;
        assert!(page.url.ends_with("/login"), "{path} led to {}", page.url);
        assert!(page.contains("Anmelden"));
    }
}

#[tokio::test]
async fn a_customer_reports_and_follows_a_ticket_to_its_solution() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.store
        .create_service(bp, "Arbeitsplatz", "Betrieb der Arbeitsplätze")
        .await
        .unwrap();
    app.customer("anna@example.de", "Anna Berg", bp).await;
    app.agent("desk@example.com", "Dana Desk").await;

    let mut anna = app.client();
    let codes = anna.enrol("anna@example.de").await;
    assert!(codes.contains("Wiederherstellungscodes"));
    let home = anna.get("/").await;
    assert!(home.contains("Neues Ticket für mich anlegen"));
    assert!(home.contains("Meine offenen Tickets"));
    assert!(home.contains("Geschlossene Tickets"));
    assert!(!home.contains("Neue Calls"), "customers see no desk tiles");

    let created = anna
        .create_ticket("Drucker druckt nicht", &[("fehler.txt", b"Papierstau")])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let number = ticket_number(&created);
    assert!(created.contains("Ihr Ticket wurde angelegt"));
    assert_eq!(element_text(&created.body, "ticket-status").unwrap(), "Neu");
    assert_eq!(element_text(&created.body, "ticket-kind").unwrap(), "Call");
    assert!(created.contains("fehler.txt"));
    assert!(created.contains("P4"), "person × restricted is P4");
    assert!(created.contains("REF-4711"));

    let open = anna.get("/catalog/my-open").await;
    assert!(open.contains(&number) && open.contains("Drucker druckt nicht"));

    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let calls = dana.get("/catalog/desk-new").await;
    assert!(calls.contains(&number));
    let csrf = dana.csrf().await;
    let path = format!("/tickets/{number}");
    let classified = dana
        .post(
            &format!("{path}/classify"),
            &[("value", "incident"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(classified.status, 200, "{}", classified.body);
    assert_eq!(
        element_text(&classified.body, "ticket-kind").unwrap(),
        "Incident"
    );
    dana.add_entry(&number, "desk_question", "Welches Druckermodell ist es?")
        .await;
    dana.add_entry(
        &number,
        "internal_note",
        "GEHEIM: Toner beim Lieferanten bestellt",
    )
    .await;

    let view = anna.get(&path).await;
    assert!(view.contains("Welches Druckermodell ist es?"));
    assert_eq!(
        element_text(&view.body, "ticket-status").unwrap(),
        "Rückfrage an Sie"
    );
    assert!(
        !view.contains("GEHEIM"),
        "internal notes never reach a customer"
    );
    assert!(!view.contains("Interne Notiz"));
    // The timeline's anchors count what the customer sees, so no gap
    // hints at the internal note between the desk's entries.
    let anchors = |body: &str| -> Vec<usize> {
        body.split("<li id=\"entry-")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    let shown = anchors(&view.body);
    assert_eq!(shown, (1..=shown.len()).collect::<Vec<_>>());
    assert!(view.contains("<a href=\"#open-question\">") && view.contains("id=\"open-question\""));

    let answered = anna
        .add_entry(&number, "customer_note", "HP LaserJet 4250")
        .await;
    assert_eq!(
        element_text(&answered.body, "ticket-status").unwrap(),
        "In Bearbeitung"
    );

    let desk_view = dana.get(&path).await;
    assert!(desk_view.contains("HP LaserJet 4250") && desk_view.contains("GEHEIM"));
    dana.add_entry(&number, "solution", "Fixiereinheit getauscht.")
        .await;
    let csrf = dana.csrf().await;
    let closed = dana
        .post(
            &format!("{path}/status"),
            &[("value", "closed"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        element_text(&closed.body, "ticket-status").unwrap(),
        "Abgeschlossen"
    );

    assert!(!anna.get("/catalog/my-open").await.contains(&number));
    let closed_list = anna.get("/catalog/my-closed").await;
    assert!(closed_list.contains(&number));
    let finally = anna.get(&path).await;
    assert!(finally.contains("Fixiereinheit getauscht.") && finally.contains("Lösung"));
    assert!(!finally.contains("GEHEIM"));
    assert!(finally.contains("abgeschlossen"), "a closed ticket says so");
}

#[tokio::test]
async fn another_business_partner_sees_no_trace_of_a_ticket() {
    let app = spawn().await;
    let one = app.business_partner("K-1", "Müller GmbH").await;
    let two = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    app.customer("anna@example.de", "Anna Berg", one).await;
    app.customer("otto@example.de", "Otto Fremd", two).await;
    app.customer("carl@example.de", "Carl Kollege", one).await;

    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let created = anna
        .create_ticket("Vertrauliches Problem", &[("geheim.txt", b"x")])
        .await;
    let number = ticket_number(&created);
    let attachment = created
        .body
        .split(&format!("/tickets/{number}/attachments/"))
        .nth(1)
        .unwrap();
    let attachment_id: String = attachment
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // Anna's own download comes in a sandbox: whatever a file holds, it
    // runs no script in the portal's origin.
    let download = anna
        .http
        .get(format!(
            "{}/tickets/{number}/attachments/{attachment_id}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    let csp = download.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.starts_with("sandbox"), "{csp}");

    for email in ["otto@example.de", "carl@example.de"] {
        let mut other = app.client();
        other.enrol(email).await;
        for path in [
            format!("/tickets/{number}"),
            format!("/tickets/{number}/edit"),
            format!("/tickets/{number}/attachments/{attachment_id}"),
        ] {
            let page = other.get(&path).await;
            assert_eq!(page.status, 404, "{email} {path}");
            assert!(!page.contains("Vertrauliches"), "{email} {path}");
        }
        let note = other
            .add_entry(&number, "customer_note", "eingeschleust")
            .await;
        assert_eq!(note.status, 404);
        let csrf = other.csrf().await;
        let edit = other
            .post(
                &format!("/tickets/{number}/edit"),
                &[("short_text", "x"), ("description", "y"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(edit.status, 404);
        for list in ["my-open", "my-closed"] {
            let page = other.get(&format!("/catalog/{list}?q={number}")).await;
            assert!(!page.contains(&format!("/tickets/{number}")));
            assert!(!page.contains("Vertrauliches") && page.contains("Keine Tickets passen"));
        }
        for desk in ["desk-open", "desk-new", "partner-open"] {
            assert_eq!(other.get(&format!("/catalog/{desk}")).await.status, 404);
        }
    }
    let anna_view = anna.get(&format!("/tickets/{number}")).await;
    assert!(!anna_view.contains("eingeschleust"));
}

#[tokio::test]
async fn a_forged_service_of_another_partner_is_refused_and_nothing_is_lost() {
    let app = spawn().await;
    let one = app.business_partner("K-1", "Müller GmbH").await;
    let two = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let foreign = app
        .store
        .create_service(two, "Fremder Service", "")
        .await
        .unwrap();
    app.customer("anna@example.de", "Anna Berg", one).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;

    let form = reqwest::multipart::Form::new()
        .text("csrf", anna.csrf().await)
        .text("short_text", "VPN bricht ab")
        .text("description", "Seit heute Morgen alle fünf Minuten")
        .text("impact", "person")
        .text("urgency", "can_work")
        .text("ticket_type", "incident")
        .text("service_id", foreign.to_string());
    let page = anna.post_multipart("/tickets/new", form).await;
    assert_eq!(page.status, 422);
    assert!(page.contains("Diese Auswahl gehört nicht zum gewählten Geschäftspartner."));
    assert!(
        page.contains("Seit heute Morgen alle fünf Minuten"),
        "typed text is kept"
    );
    assert!(
        !page.contains("Fremder Service"),
        "no names of another partner"
    );
    assert!(
        anna.get("/catalog/my-open")
            .await
            .contains("Hier sind keine Tickets.")
    );
}

#[tokio::test]
async fn required_fields_are_named_and_typed_text_survives() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", anna.csrf().await)
        .text("short_text", "")
        .text("description", "Mein Bildschirm flackert")
        .text("impact", "person")
        .text("urgency", "bogus")
        .text("ticket_type", "request");
    let page = anna.post_multipart("/tickets/new", form).await;
    assert_eq!(page.status, 422);
    assert!(page.contains("id=\"short_text-error\""));
    assert!(page.contains("Bitte füllen Sie dieses Feld aus."));
    assert!(page.contains("Mein Bildschirm flackert"));
    assert!(
        page.contains("Diese Auswahl ist nicht möglich."),
        "an invalid urgency is named"
    );

    let english = anna.get("/language/en?back=/tickets/new").await;
    assert!(english.contains("New ticket for me") && english.contains("Short text"));
}

#[tokio::test]
async fn the_initial_report_is_editable_only_while_a_call() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Maus defekt", &[]).await);
    let path = format!("/tickets/{number}/edit");

    let csrf = anna.csrf().await;
    let edited = anna
        .post(
            &path,
            &[
                ("short_text", "Maus und Tastatur defekt"),
                ("description", "Beide"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(edited.contains("Maus und Tastatur defekt"));
    assert!(edited.contains("Meldung geändert"));

    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let csrf = dana.csrf().await;
    dana.post(
        &format!("/tickets/{number}/classify"),
        &[("value", "service_request"), ("csrf", &csrf)],
    )
    .await;

    let locked = anna.get(&path).await;
    assert_eq!(locked.status, 409);
    assert!(locked.contains("Die Meldung kann nicht mehr geändert werden"));
    let csrf = anna.csrf().await;
    let refused = anna
        .post(
            &path,
            &[
                ("short_text", "neu"),
                ("description", "neu"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.contains("Service Request"));
    assert!(
        !anna
            .get(&format!("/tickets/{number}"))
            .await
            .contains(">neu<")
    );
}

#[tokio::test]
async fn customers_cannot_use_desk_actions_or_desk_entry_kinds() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Headset", &[]).await);
    let csrf = anna.csrf().await;
    for (action, value) in [("classify", "incident"), ("status", "closed")] {
        let page = anna
            .post(
                &format!("/tickets/{number}/{action}"),
                &[("value", value), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, 404, "{action}");
    }
    for kind in ["solution", "internal_note", "desk_question"] {
        assert_eq!(
            anna.add_entry(&number, kind, "x").await.status,
            404,
            "{kind}"
        );
    }
    let view = anna.get(&format!("/tickets/{number}")).await;
    assert_eq!(element_text(&view.body, "ticket-status").unwrap(), "Neu");
}

#[tokio::test]
async fn forms_without_the_session_token_are_refused() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna_id = app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Monitor", &[]).await);
    let page = anna
        .post(
            &format!("/tickets/{number}/edit"),
            &[("short_text", "x"), ("description", "y"), ("csrf", "wrong")],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(page.contains("aus Sicherheitsgründen abgelehnt"));
    let cross = anna
        .http
        .post(format!("{}/logout", app.base))
        .header("Origin", "https://evil.example")
        .form(&[("csrf", anna.csrf().await.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(anna.get("/").await.contains("Anna Berg"), "still signed in");

    // The refused form and a wrong password are in Anna's security log.
    app.client().password("anna@example.de", "falsch").await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let log = dana.get(&format!("/desk/audit?person={anna_id}")).await;
    // Both: the wrong token, and the form another site sent in her name.
    assert_eq!(
        log.body
            .matches("Formular ohne gültigen Sicherheitscode")
            .count(),
        2,
        "{}",
        log.body
    );
    assert!(log.contains("Anmeldung fehlgeschlagen"), "{}", log.body);
}

/// Two sign-ins with the same (initial) password at the enrolment step:
/// each is shown a secret of its own, and once one has set up the second
/// factor the other can neither confirm its secret nor replace it.
#[tokio::test]
async fn a_waiting_enrolment_neither_shares_nor_replaces_the_second_factor() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("petra@example.de", "Petra Lang", bp).await;
    let secret_of = |page: &common::Page| {
        let text = element_text(&page.body, "totp-secret")
            .unwrap()
            .replace(' ', "");
        TotpSecret::from_base32(&text).unwrap()
    };
    // Someone else who knows the password opens the enrolment first.
    let intruder = app.client();
    let seen = intruder.password("petra@example.de", PASSWORD).await;
    assert!(seen.url.ends_with("/login/enrol"), "{}", seen.url);
    let intruders_secret = secret_of(&seen);

    let petra = app.client();
    let hers = petra.password("petra@example.de", PASSWORD).await;
    let petras_secret = secret_of(&hers);
    assert_ne!(
        intruders_secret.to_base32(),
        petras_secret.to_base32(),
        "a secret belongs to the sign-in that showed it"
    );
    let done = petra
        .post(
            "/login/enrol",
            &[
                ("code", &petras_secret.code_at(now())),
                ("csrf", &hers.csrf()),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);

    // The waiting sign-in now ends, with the page or with the code.
    let again = intruder
        .post(
            "/login/enrol",
            &[
                ("code", &intruders_secret.code_at(now())),
                ("csrf", &seen.csrf()),
            ],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.contains("inzwischen ein zweiter Faktor eingerichtet"));
    assert!(intruder.get("/").await.url.ends_with("/login"));
    assert!(intruder.get("/login/enrol").await.url.ends_with("/login"));

    // Petra's factor is hers alone: the intruder's secret opens nothing.
    let later = app.client();
    let step = later.password("petra@example.de", PASSWORD).await;
    assert!(step.url.ends_with("/login/second-factor"), "{}", step.url);
    let refused = later
        .post(
            "/login/second-factor",
            &[
                ("code", &intruders_secret.code_at(now() + 30)),
                ("csrf", &step.csrf()),
            ],
        )
        .await;
    assert_eq!(refused.status, 401);
    let accepted = later
        .post(
            "/login/second-factor",
            &[
                ("code", &petras_secret.code_at(now() + 30)),
                ("csrf", &step.csrf()),
            ],
        )
        .await;
    assert!(accepted.url.ends_with('/'), "{}", accepted.url);
}

#[tokio::test]
async fn sign_in_needs_both_factors_and_issues_fresh_sessions() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let csrf = anna.csrf().await;
    anna.post("/logout", &[("csrf", &csrf)]).await;
    assert!(anna.get("/").await.url.ends_with("/login"));

    // Password alone reaches only the code page; the portal stays closed.
    let pending = anna.password("anna@example.de", PASSWORD).await;
    assert!(pending.url.ends_with("/login/second-factor"));
    assert!(anna.get("/").await.url.ends_with("/login"));
    assert!(anna.get("/catalog/my-open").await.url.ends_with("/login"));

    // Five wrong codes end the pending sign-in.
    let mut csrf = pending.csrf();
    for attempt in 1..=5 {
        let page = anna
            .post(
                "/login/second-factor",
                &[("code", "000000"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, 401);
        if attempt < 5 {
            assert!(page.contains("Der Code ist falsch"));
            csrf = page.csrf();
        } else {
            assert!(page.contains("Zu viele falsche Codes"));
        }
    }
    assert!(
        anna.get("/login/second-factor")
            .await
            .url
            .ends_with("/login")
    );

    // A correct code signs in; the same code again is refused.
    let page = anna.password("anna@example.de", PASSWORD).await;
    let code = anna.secret.as_ref().unwrap().code_at(common::now() + 30);
    let done = anna
        .post(
            "/login/second-factor",
            &[("code", &code), ("csrf", &page.csrf())],
        )
        .await;
    assert!(done.contains("Willkommen, Anna Berg"));
    let other = app.client();
    let page = other.password("anna@example.de", PASSWORD).await;
    let replay = other
        .post(
            "/login/second-factor",
            &[("code", &code), ("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(replay.status, 401, "a code is accepted once only");
}

#[tokio::test]
async fn the_session_cookie_changes_at_each_step() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    let login_cookie = cookie_of(&login, "tw_login").unwrap();
    let body = login.text().await.unwrap();
    let csrf = common::field_value(&body, "csrf").unwrap();
    let after_password = http
        .post(format!("{}/login", app.base))
        .header(
            "Cookie",
            format!("tw_login={login_cookie}; tw_session=planted-by-attacker"),
        )
        .form(&[
            ("email", "anna@example.de"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(after_password.status(), 303);
    let set = after_password
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let session = set.iter().find(|c| c.starts_with("tw_session=")).unwrap();
    assert!(!session.contains("planted-by-attacker"));
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let first = session.split(';').next().unwrap().to_string();

    let enrol = http
        .get(format!("{}/login/enrol", app.base))
        .header("Cookie", &first)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = element_text(&enrol, "totp-secret")
        .unwrap()
        .replace(' ', "");
    let secret = ticketwerk_domain::auth::TotpSecret::from_base32(&secret).unwrap();
    let csrf = common::field_value(&enrol, "csrf").unwrap();
    let done = http
        .post(format!("{}/login/enrol", app.base))
        .header("Cookie", &first)
        .form(&[
            ("code", secret.code_at(common::now()).as_str()),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let second = cookie_of(&done, "tw_session").unwrap();
    assert_ne!(
        format!("tw_session={second}"),
        first,
        "a new id after the second factor"
    );
    let old = http
        .get(format!("{}/", app.base))
        .header("Cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303, "the pre-factor session is gone");
    let new = http
        .get(format!("{}/", app.base))
        .header("Cookie", format!("tw_session={second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            let pair = v.split(';').next()?;
            let (k, val) = pair.split_once('=')?;
            (k == name).then(|| val.to_string())
        })
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_account_and_address() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let client = app.client();
    for _ in 0..5 {
        let page = client
            .password("anna@example.de", "falsches-passwort")
            .await;
        assert_eq!(page.status, 401);
        assert!(page.contains("E-Mail-Adresse oder Passwort ist falsch."));
    }
    let blocked = client.password("anna@example.de", PASSWORD).await;
    assert_eq!(blocked.status, 429);
    assert!(blocked.contains("Zu viele fehlgeschlagene Versuche"));
    let unknown = client.password("nobody@example.de", PASSWORD).await;
    assert_eq!(unknown.status, 401, "the same answer as a wrong password");
    assert!(unknown.contains("E-Mail-Adresse oder Passwort ist falsch."));
}

#[tokio::test]
async fn pages_carry_security_headers_and_probes_answer() {
    let app = spawn().await;
    let r = reqwest::get(format!("{}/login", app.base)).await.unwrap();
    let h = r.headers();
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(
        reqwest::get(format!("{}/healthz", app.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", app.base))
            .await
            .unwrap()
            .status(),
        200
    );
    app.store.close().await;
    assert_eq!(
        reqwest::get(format!("{}/readyz", app.base))
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz", app.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn catalogs_sort_and_page() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    for i in 0..27 {
        anna.create_ticket(&format!("Anfrage Nummer {i:02}"), &[])
            .await;
    }
    let first = anna.get("/catalog/my-open?sort=short_text&dir=asc").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.contains("Anfrage Nummer 00") && first.contains("Anfrage Nummer 24"));
    assert!(!first.contains("Anfrage Nummer 25"));
    let next = first.body.split("rel=\"next\" href=\"").nth(1).unwrap();
    let next = next[..next.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    let second = anna.get(&next).await;
    assert!(second.contains("Anfrage Nummer 25") && second.contains("Anfrage Nummer 26"));
    assert!(!second.contains("Anfrage Nummer 24"));
    let number = ticket_number(&anna.create_ticket("Letzte Anfrage", &[]).await);
    let by_number = anna
        .get(&format!("/catalog/my-open?q=%20{number}%20"))
        .await;
    assert!(by_number.contains("Letzte Anfrage") && !by_number.contains("Anfrage Nummer"));
    let search = anna.get("/catalog/my-open?q=nummer%2013").await;
    assert!(search.contains("Anfrage Nummer 13") && !search.contains("Anfrage Nummer 12"));
}

#[tokio::test]
async fn sessions_end_when_idle_and_after_their_lifetime() {
    use ticketwerk_web::Settings;
    let idle = Settings {
        session_idle_secs: 2,
        ..Settings::default()
    };
    let app = common::spawn_with(None, idle).await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    assert!(anna.get("/").await.contains("Anna Berg"));
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    assert!(
        anna.get("/").await.url.ends_with("/login"),
        "idle session ended"
    );

    let short = Settings {
        session_max_secs: 3,
        ..Settings::default()
    };
    let app = common::spawn_with(None, short).await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    for _ in 0..3 {
        assert!(
            anna.get("/").await.contains("Anna Berg"),
            "in use, within its lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(
        anna.get("/").await.url.ends_with("/login"),
        "ended after its lifetime"
    );
}

#[tokio::test]
async fn catalogs_open_side_by_side_as_tabs() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let open = anna.get("/catalog/my-open").await;
    assert!(open.contains("data-tab=\"my-open\""));
    // The closed tile in the workspace opens a second tab beside the first.
    assert!(open.contains("my-closed?tabs=my-open,my-closed\""));
    let both = anna.get("/catalog/my-closed?tabs=my-open,my-closed").await;
    assert!(both.contains("data-tab=\"my-open\"") && both.contains("data-tab=\"my-closed\""));
    assert!(both.contains("Alle Kataloge schließen"));
    // Closing the active tab moves to the one left; tabs a person may not
    // open (the desk's) are dropped from the request.
    assert!(both.contains("my-open?tabs=my-open\""));
    let forged = anna
        .get("/catalog/my-open?tabs=desk-open,partner-open,nonsense")
        .await;
    assert_eq!(forged.status, 200);
    assert!(!forged.contains("data-tab=\"desk-open\"") && !forged.contains("Offene Tickets\""));
    assert!(!forged.contains("data-tab=\"partner-open\""));
}

#[tokio::test]
async fn guessing_second_factors_is_limited_across_sign_ins() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let attacker = app.client();
    // Two pending sign-ins of five wrong codes each: ten in all.
    for _ in 0..2 {
        let page = attacker.password("anna@example.de", PASSWORD).await;
        let mut csrf = page.csrf();
        for attempt in 1..=5 {
            let p = attacker
                .post(
                    "/login/second-factor",
                    &[("code", "000000"), ("csrf", &csrf)],
                )
                .await;
            if attempt < 5 {
                csrf = p.csrf();
            }
        }
    }
    // Now even the right code is refused for a while, on any sign-in.
    let page = attacker.password("anna@example.de", PASSWORD).await;
    let code = anna.secret.as_ref().unwrap().code_at(common::now() + 30);
    let refused = attacker
        .post(
            "/login/second-factor",
            &[("code", &code), ("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(refused.status, 429);
    assert!(refused.contains("Zu viele falsche Codes für dieses Konto"));
    assert!(attacker.get("/").await.url.ends_with("/login"));
}

/// The passkey ceremonies answer the page's script in JSON, refusals
/// included, in the person's language.
#[tokio::test]
async fn passkey_ceremonies_answer_in_json() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let csrf = anna.csrf().await;
    let start = anna
        .http
        .post(format!("{}/account/passkeys/start", app.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let options: serde_json::Value = start.json().await.unwrap();
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert!(options["publicKey"]["challenge"].is_string());
    let finish = anna
        .http
        .post(format!("{}/account/passkeys/finish", app.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Laptop"),
            ("credential", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 422);
    let body: serde_json::Value = finish.json().await.unwrap();
    assert_eq!(
        body["error"],
        "Der Passkey wurde nicht akzeptiert. Bitte versuchen Sie es noch einmal."
    );
    // The ceremony was used up by that try.
    let again = anna
        .http
        .post(format!("{}/account/passkeys/finish", app.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Laptop"),
            ("credential", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert!(app.store.passkeys_of(1).await.unwrap().is_empty());
}

/// Wrong codes sent all at once on one pending sign-in: each is counted
/// before it is looked at, so no more than five are ever checked.
#[tokio::test]
async fn guesses_sent_at_the_same_moment_are_counted_each() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let anna_id = app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let attacker = app.client();
    let page = attacker.password("anna@example.de", PASSWORD).await;
    let csrf = page.csrf();
    let guesses = (0..40).map(|i| {
        let http = attacker.raw.clone();
        let url = format!("{}/login/second-factor", app.base);
        let (csrf, code) = (csrf.clone(), format!("{:06}", 100_000 + i));
        tokio::spawn(async move {
            let r = http
                .post(url)
                .form(&[("code", code.as_str()), ("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        })
    });
    let mut answers = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        answers.push(guess.await.unwrap());
    }
    let with_attempts_left = answers
        .iter()
        .filter(|a| a.contains("Verbleibende Versuche"))
        .count();
    assert!(
        with_attempts_left <= 4,
        "{with_attempts_left} guesses were checked and answered"
    );
    let failures = app
        .store
        .audit_page(Some(anna_id), None, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "second_factor_failed")
        .count();
    assert!(failures <= 5, "{failures} codes were checked");
    assert!(attacker.get("/").await.url.ends_with("/login"));
}

#[tokio::test]
async fn malformed_requests_get_a_page_in_the_persons_language() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Scanner", &[]).await);

    let bad_id = anna
        .get(&format!("/tickets/{number}/attachments/abc"))
        .await;
    assert_eq!(bad_id.status, 400);
    assert!(bad_id.contains("Die Anfrage ist unvollständig oder ungültig."));
    assert!(!bad_id.contains("Cannot parse"));
    let not_multipart = anna.post("/tickets/new", &[("short_text", "x")]).await;
    assert_eq!(not_multipart.status, 400);
    assert!(not_multipart.contains("Die Anfrage ist unvollständig oder ungültig."));
    let put = anna
        .http
        .put(format!("{}/tickets/new", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert!(
        put.text()
            .await
            .unwrap()
            .contains("Diese Aktion ist hier nicht möglich.")
    );
    let english = anna.get("/language/en").await;
    assert!(english.contains("Welcome"));
    let bad = anna
        .get(&format!(
            "/tickets/{number}/attachments/99999999999999999999999"
        ))
        .await;
    assert!(bad.contains("The request is incomplete or invalid."));
}

#[tokio::test]
async fn the_desk_solves_before_it_closes_and_classifies_before_it_solves() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Beamer", &[]).await);
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let path = format!("/tickets/{number}");
    let csrf = dana.csrf().await;

    let close = dana
        .post(
            &format!("{path}/status"),
            &[("value", "closed"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(close.status, 409);
    assert!(close.contains("zuerst als Incident oder Service Request eingestuft"));
    let solution = dana.add_entry(&number, "solution", "Neu gestartet").await;
    assert_eq!(solution.status, 409);
    dana.post(
        &format!("{path}/classify"),
        &[("value", "incident"), ("csrf", &csrf)],
    )
    .await;
    let close = dana
        .post(
            &format!("{path}/status"),
            &[("value", "closed"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(close.status, 409);
    assert!(close.contains("Bitte schreiben Sie zuerst eine Lösung"));
    let back = dana
        .post(
            &format!("{path}/status"),
            &[("value", "new"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(back.status, 409);
    let view = dana.get(&path).await;
    assert_eq!(
        element_text(&view.body, "ticket-status").unwrap(),
        "In Bearbeitung"
    );
    assert!(
        !view.contains("value=\"new\""),
        "the form offers only allowed statuses"
    );
    // The desk's form starts at the internal note, never at the solution.
    let kinds = view.body.split("id=\"entry-kind\"").nth(1).unwrap();
    assert!(
        kinds
            .trim_start_matches(|c| c != '<')
            .starts_with("<option value=\"internal_note\"")
    );
}

#[tokio::test]
async fn hidden_characters_and_empty_files_are_not_taken_silently() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let created = anna
        .create_ticket("Dru\u{0}cker\u{1b}[31m \u{202e}kaputt", &[])
        .await;
    let title = element_text(&created.body, "ticket-number").unwrap();
    assert!(!title.is_empty());
    assert!(created.contains("Drucker[31m kaputt"));
    assert!(!created.body.contains('\u{202e}') && !created.body.contains('\u{1b}'));

    let empty = anna
        .create_ticket("Leere Datei", &[("leer.txt", b"")])
        .await;
    assert_eq!(empty.status, 422);
    assert!(empty.contains("Diese Datei ist leer und wurde nicht angehängt: leer.txt"));
    assert!(
        empty.contains("Leere Datei: ausführliche Beschreibung"),
        "typed text is kept"
    );
}

#[tokio::test]
async fn a_business_partner_one_does_not_belong_to_is_not_a_choice() {
    let app = spawn().await;
    let one = app.business_partner("K-1", "Müller GmbH").await;
    let two = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let three = app.business_partner("K-3", "Fremde AG").await;
    let markus = app.customer("markus@example.de", "Markus Beide", one).await;
    app.store.add_membership(markus, two, false).await.unwrap();
    let mut client = app.client();
    client.enrol("markus@example.de").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", client.csrf().await)
        .text("business_partner_id", three.to_string())
        .text("short_text", "Telefon")
        .text("description", "Kein Freizeichen")
        .text("impact", "person")
        .text("urgency", "can_work")
        .text("ticket_type", "incident");
    let page = client.post_multipart("/tickets/new", form).await;
    assert_eq!(page.status, 422);
    assert!(page.contains("id=\"business_partner-error\">Diese Auswahl ist nicht möglich."));
    assert!(!page.contains("Fremde AG"));
    // The picker, without JavaScript: the search opens in the form and
    // offers the person's own business partners only.
    let form = reqwest::multipart::Form::new()
        .text("csrf", client.csrf().await)
        .text("business_partner_id", three.to_string())
        .text("short_text", "Telefon")
        .text("picker", "business_partner");
    let page = client.post_multipart("/tickets/new", form).await;
    assert_eq!(page.status, 200);
    assert!(page.contains("Müller GmbH") && page.contains("Stadtwerke Lindenau"));
    assert!(!page.contains("Fremde AG") && !page.contains("K-3"));
    assert!(page.contains("value=\"Telefon\""), "typed text is kept");
}

#[tokio::test]
async fn column_search_filters_each_column_and_pages_keep_it() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    for i in 0..27 {
        anna.create_ticket(&format!("Drucker Etage {i:02}"), &[])
            .await;
    }
    let other = ticket_number(&anna.create_ticket("Bildschirm flackert", &[]).await);
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let csrf = dana.csrf().await;
    dana.post(
        &format!("/tickets/{other}/classify"),
        &[("value", "incident"), ("csrf", &csrf)],
    )
    .await;

    let text = anna.get("/catalog/my-open?c_short_text=BILDSCHIRM").await;
    assert!(text.contains("Bildschirm flackert") && !text.contains("Drucker Etage"));
    assert!(
        text.contains("<details class=\"column-search\" open>"),
        "the filter stays shown"
    );
    let kind = anna.get("/catalog/my-open?c_kind=incident").await;
    assert!(kind.contains("Bildschirm flackert") && !kind.contains("Drucker Etage"));
    let status = anna
        .get("/catalog/my-open?c_status=in_progress&c_kind=call")
        .await;
    assert!(status.contains("Keine Tickets passen zur Suche."));
    let by_person = anna
        .get("/catalog/my-open?c_reported_for=berg&c_short_text=etage")
        .await;
    assert!(by_person.contains("Drucker Etage 26") && !by_person.contains("Bildschirm"));

    // The next page keeps the column search.
    let next = by_person.body.split("rel=\"next\" href=\"").nth(1).unwrap();
    let next = next[..next.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    assert!(next.contains("c_short_text=etage"), "{next}");
    let second = anna.get(&next).await;
    assert!(second.contains("Drucker Etage") && !second.contains("Bildschirm"));
    // An unknown status filters nothing and breaks nothing.
    assert_eq!(
        anna.get("/catalog/my-open?c_status=bogus").await.status,
        200
    );
}

#[tokio::test]
async fn a_solution_is_written_and_a_thank_you_does_not_reopen() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Tastatur", &[]).await);
    let path = format!("/tickets/{number}");
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let call = dana.get(&path).await;
    assert!(
        !call.contains("<option value=\"solution\""),
        "no solution offered on a call"
    );
    let csrf = dana.csrf().await;
    dana.post(
        &format!("{path}/classify"),
        &[("value", "incident"), ("csrf", &csrf)],
    )
    .await;
    let by_hand = dana
        .post(
            &format!("{path}/status"),
            &[("value", "solved"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(by_hand.status, 409);
    assert!(by_hand.contains("indem Sie eine Lösung schreiben"));
    assert!(
        by_hand.contains("Dana Desk"),
        "the error page keeps the signed-in menu"
    );
    dana.add_entry(&number, "solution", "Neue Tastatur geliefert.")
        .await;
    let thanks = anna
        .add_entry(&number, "customer_note", "Danke, geht wieder!")
        .await;
    assert_eq!(
        element_text(&thanks.body, "ticket-status").unwrap(),
        "Gelöst"
    );
    let closed = dana
        .post(
            &format!("{path}/status"),
            &[("value", "closed"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        element_text(&closed.body, "ticket-status").unwrap(),
        "Abgeschlossen"
    );
    let edit = anna.get(&format!("{path}/edit")).await;
    assert_eq!(edit.status, 409);
    assert!(edit.contains("Das Ticket ist abgeschlossen"));
}

#[tokio::test]
async fn error_pages_speak_the_persons_language() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let id = app.customer("mark@example.de", "Mark English", bp).await;
    sqlx_language(&app, id, "en").await;
    let mut mark = app.client();
    mark.enrol("mark@example.de").await;
    let page = mark.get("/tickets/2026-000001/attachments/abc").await;
    assert!(page.contains("That did not work") && page.contains("Mark English"));
    let missing = mark.get("/nowhere").await;
    assert_eq!(missing.status, 404);
    assert!(missing.contains("This page does not exist"));
}

/// Sets a person's language as the profile will.
async fn sqlx_language(app: &common::TestApp, person: i64, lang: &str) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", app.database_path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE persons SET language = ? WHERE id = ?")
        .bind(lang)
        .bind(person)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_system_is_assigned_later_and_can_be_removed() {
    let app = spawn().await;
    let bp = app.business_partner("K-1", "Müller GmbH").await;
    let other = app.business_partner("K-2", "Stadtwerke Lindenau").await;
    let pc = app
        .store
        .create_system(bp, "laptop", "ThinkPad T14", "INV-7", None)
        .await
        .unwrap();
    let foreign = app
        .store
        .create_system(other, "phone", "Fremdes Telefon", "", None)
        .await;
    app.customer("anna@example.de", "Anna Berg", bp).await;
    let mut anna = app.client();
    anna.enrol("anna@example.de").await;
    let number = ticket_number(&anna.create_ticket("Akku", &[]).await);
    let path = format!("/tickets/{number}/system");
    let csrf = anna.csrf().await;
    let set = anna
        .post(&path, &[("value", &pc.to_string()), ("csrf", &csrf)])
        .await;
    assert_eq!(
        element_text(&set.body, "ticket-system").unwrap(),
        "ThinkPad T14"
    );
    let forged = anna
        .post(
            &path,
            &[("value", &foreign.unwrap().to_string()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(forged.status, 400);
    let removed = anna.post(&path, &[("value", ""), ("csrf", &csrf)]).await;
    assert_eq!(element_text(&removed.body, "ticket-system").unwrap(), "–");
}

#[tokio::test]
async fn the_language_switch_never_sends_anyone_to_another_site() {
    let app = spawn().await;
    let anna = app.client();
    for back in [
        "//evil.example",
        "/\\evil.example",
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D%0A/evil.example",
        "https://evil.example",
    ] {
        let r = anna
            .raw
            .get(format!("{}/language/de?back={back}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{back}");
        let to = r.headers()["location"].to_str().unwrap();
        assert_eq!(to, "/", "{back} must lead home, not to {to:?}");
    }
    let r = anna
        .raw
        .get(format!("{}/language/en?back=/tickets/new", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/tickets/new");
}
