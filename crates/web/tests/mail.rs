//! Incoming mail as people see it: the customer's ticket page, the desk's
//! timeline and the desk's list of held mail with its actions.
#![allow(clippy::unwrap_used)]

mod common;

use common::{spawn, ticket_number};

#[tokio::test]
async fn desk_only_mail_never_shows_in_the_portal_but_the_desk_sees_its_sender() {
    let app = spawn().await;
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("thomas@example.de", "Thomas Becker", k1).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut thomas = app.client();
    thomas.enrol("thomas@example.de").await;
    let created = thomas.create_ticket("Drucker", &[]).await;
    assert!(
        !created.contains("Per E-Mail eingegangen"),
        "made in the portal"
    );
    let number = ticket_number(&created);

    // An out-of-office reply of the reporter himself: for the desk only.
    let auto = format!(
        "From: thomas@example.de\r\nSubject: Abwesend: [{number}] Drucker\r\n\
         Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.de>\r\n\r\n\
         Ich bin im Urlaub bis 2026-08-01.\r\n"
    );
    app.deliver_mail(&auto).await;
    // His real answer: a report everyone on the ticket sees.
    let reply = format!(
        "From: Thomas Becker <Thomas@Example.de>\r\nSubject: AW: [{number}] Drucker\r\n\
         Message-ID: <reply@example.de>\r\n\r\nEs ist ein HP LaserJet.\r\n"
    );
    app.deliver_mail(&reply).await;

    let page = thomas.get(&format!("/tickets/{number}")).await;
    assert!(page.contains("Es ist ein HP LaserJet."), "{}", page.body);
    assert!(
        !page.contains("Urlaub"),
        "the auto-reply stays with the desk"
    );
    assert!(!page.contains("nur Service Desk"));

    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let page = dana.get(&format!("/tickets/{number}")).await;
    assert!(page.contains("Ich bin im Urlaub"));
    assert!(page.contains("E-Mail (nur Service Desk)"));
    assert!(page.contains("per E-Mail von thomas@example.de"));
    let raw_link = page
        .body
        .split("href=\"/desk/mail/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let raw = dana.get(&format!("/desk/mail/{raw_link}")).await;
    assert_eq!(raw.status, 200);
    assert!(
        raw.body.starts_with("From: thomas@example.de"),
        "{}",
        raw.body
    );
    // The customer does not even learn that the raw mail exists.
    assert_eq!(
        thomas.get(&format!("/desk/mail/{raw_link}")).await.status,
        404
    );
}

#[tokio::test]
async fn the_desk_accepts_held_mail_as_a_call_or_discards_it() {
    let app = spawn().await;
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("thomas@example.de", "Thomas Becker", k1).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let held = app
        .deliver_mail(
            "From: Eva Neu <eva@privat.example>\r\nSubject: WG: VPN geht nicht\r\n\
             Message-ID: <vpn@privat.example>\r\n\r\nSeit heute früh.\r\n",
        )
        .await;
    let spam = app
        .deliver_mail(
            "From: win@lottery.example\r\nSubject: Gewonnen!\r\n\
             Message-ID: <spam@lottery.example>\r\n\r\nKlicken Sie hier.\r\n",
        )
        .await;

    let mut thomas = app.client();
    thomas.enrol("thomas@example.de").await;
    assert_eq!(thomas.get("/desk/mail").await.status, 404);
    assert_eq!(thomas.get(&format!("/desk/mail/{held}")).await.status, 404);

    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let list = dana.get("/desk/mail").await;
    assert!(
        list.contains("Eva Neu &lt;eva@privat.example&gt;"),
        "{}",
        list.body
    );
    assert!(list.contains("WG: VPN geht nicht"));
    assert!(list.contains("Unbekannter Absender"));
    assert!(list.contains("Gewonnen!"));

    let page = dana.get(&format!("/desk/mail/{held}")).await;
    let csrf = page.csrf();
    let refused = dana
        .post(
            &format!("/desk/mail/{held}/accept"),
            &[("csrf", &csrf), ("person", "niemand@example.de")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.contains("Keine aktive Person eines Geschäftspartners"));
    assert!(
        refused.contains("value=\"niemand@example.de\""),
        "what was typed stays"
    );

    let accepted = dana
        .post(
            &format!("/desk/mail/{held}/accept"),
            &[("csrf", &csrf), ("person", "Thomas@Example.de")],
        )
        .await;
    assert!(
        accepted.contains("als neuer Call übernommen"),
        "{}",
        accepted.body
    );
    let mine = thomas.get("/catalog/my-open").await;
    assert!(mine.contains("VPN geht nicht"), "{}", mine.body);
    // The call says its type, impact and urgency are not his choices.
    let link = mine.body.split("href=\"/tickets/").nth(1).unwrap();
    let number = &link[..link.find('"').unwrap()];
    let call = thomas.get(&format!("/tickets/{number}")).await;
    assert_eq!(ticket_number(&call), number);
    assert!(call.contains("Per E-Mail eingegangen"), "{}", call.body);
    let again = dana
        .post(
            &format!("/desk/mail/{held}/accept"),
            &[("csrf", &csrf), ("person", "thomas@example.de")],
        )
        .await;
    assert_eq!(again.status, 409, "a second click opens nothing");

    let discarded = dana
        .post(&format!("/desk/mail/{spam}/discard"), &[("csrf", &csrf)])
        .await;
    assert!(discarded.contains("verworfen"));
    let list = dana.get("/desk/mail").await;
    assert!(!list.contains("Gewonnen!"));
    assert!(list.contains("Keine E-Mail wartet"));
}

/// A stranger's reply is held; the desk reads its text on the mail's page
/// and files it on the ticket, where only the desk sees it.
#[tokio::test]
async fn the_desk_reads_a_held_mail_and_files_it_on_a_ticket_for_itself() {
    let app = spawn().await;
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    app.customer("thomas@example.de", "Thomas Becker", k1).await;
    app.agent("desk@example.com", "Dana Desk").await;
    let mut thomas = app.client();
    thomas.enrol("thomas@example.de").await;
    let number = ticket_number(&thomas.create_ticket("Drucker", &[]).await);
    let held = app
        .deliver_mail(&format!(
            "From: Techniker <service@drucker-hersteller.example>\r\n\
             Subject: Ihr Drucker, Vorgang {number}\r\nMessage-ID: <hersteller@x.example>\r\n\r\n\
             Ersatzteil <b>bestellt</b>, Lieferung Freitag.\r\n"
        ))
        .await;
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let page = dana.get(&format!("/desk/mail/{held}")).await;
    assert!(
        page.contains("Ersatzteil &lt;b&gt;bestellt&lt;&#x2f;b&gt;, Lieferung Freitag."),
        "{}",
        page.body
    );
    let csrf = page.csrf();

    let wrong = dana
        .post(
            &format!("/desk/mail/{held}/attach"),
            &[("csrf", &csrf), ("ticket", "2026-999999")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.contains("Ein Ticket mit dieser Nummer gibt es nicht."));
    let filed = dana
        .post(
            &format!("/desk/mail/{held}/attach"),
            &[("csrf", &csrf), ("ticket", &number)],
        )
        .await;
    assert!(filed.contains("hängt jetzt am Ticket"), "{}", filed.body);
    let desk_view = dana.get(&format!("/tickets/{number}")).await;
    assert!(desk_view.contains("Lieferung Freitag"));
    assert!(desk_view.contains("E-Mail (nur Service Desk)"));
    let customer_view = thomas.get(&format!("/tickets/{number}")).await;
    assert!(
        !customer_view.contains("Lieferung Freitag"),
        "the customer never sees it"
    );
    // Filed once: it is no longer held.
    let again = dana
        .post(
            &format!("/desk/mail/{held}/attach"),
            &[("csrf", &csrf), ("ticket", &number)],
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        thomas
            .post(
                &format!("/desk/mail/{held}/attach"),
                &[("csrf", "x"), ("ticket", &number)]
            )
            .await
            .status,
        404
    );
}

/// Mail from a person of two business partners opens nothing by itself:
/// in the wrong partner its text would reach that partner's authorised
/// persons. The desk names the partner when it accepts the mail.
#[tokio::test]
async fn mail_of_a_person_of_two_partners_waits_for_the_desk_to_name_the_partner() {
    let app = spawn().await;
    let k1 = app.business_partner("K-1", "Müller GmbH").await;
    let k2 = app.business_partner("K-2", "Stadtwerke").await;
    let markus = app
        .customer("markus@example.de", "Markus Hoffmann", k1)
        .await;
    app.store.add_membership(markus, k2, false).await.unwrap();
    app.agent("desk@example.com", "Dana Desk").await;
    let held = app
        .deliver_mail(
            "From: markus@example.de\r\nSubject: Zählerauslese ausgefallen\r\n\
             Message-ID: <zaehler@example.de>\r\n\r\nInterna der Stadtwerke.\r\n",
        )
        .await;

    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let page = dana.get(&format!("/desk/mail/{held}")).await;
    assert!(
        page.contains("Absender gehört zu mehreren Geschäftspartnern"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let accept = |partner: &'static str| {
        [
            ("csrf", csrf.as_str()),
            ("person", "markus@example.de"),
            ("business_partner", partner),
        ]
    };
    let unnamed = dana
        .post(&format!("/desk/mail/{held}/accept"), &accept(""))
        .await;
    assert_eq!(unnamed.status, 422);
    assert!(unnamed.contains("Bitte füllen Sie dieses Feld aus."));
    app.business_partner("K-3", "Fremd AG").await;
    let foreign = dana
        .post(&format!("/desk/mail/{held}/accept"), &accept("K-3"))
        .await;
    assert_eq!(foreign.status, 422);
    assert!(foreign.contains("value=\"K-3\""), "what was typed stays");
    assert!(foreign.contains("gehört keinem Geschäftspartner mit dieser Kundennummer an"));

    let accepted = dana
        .post(&format!("/desk/mail/{held}/accept"), &accept("K-2"))
        .await;
    assert!(accepted.contains("als neuer Call übernommen"));
    let mut m = app.client();
    m.enrol("markus@example.de").await;
    let k2_open = m.get("/catalog/my-open").await;
    assert!(
        k2_open.contains("Zählerauslese ausgefallen"),
        "{}",
        k2_open.body
    );
    assert!(k2_open.contains("Stadtwerke"), "{}", k2_open.body);
}

/// A held machine mail says in the desk's words what kind it is.
#[tokio::test]
async fn a_held_auto_reply_is_named_in_the_desk_s_language() {
    let app = spawn().await;
    app.agent("desk@example.com", "Dana Desk").await;
    let held = app
        .deliver_mail(
            "From: urlaub@example.de\r\nSubject: Abwesend: Ihre Anfrage\r\n\
             Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.de>\r\n\r\n\
             Ich bin bis Montag nicht im Büro.\r\n",
        )
        .await;
    let mut dana = app.client();
    dana.enrol("desk@example.com").await;
    let page = dana.get(&format!("/desk/mail/{held}")).await;
    assert_eq!(
        common::element_text(&page.body, "mail-detail").as_deref(),
        Some("Automatische Antwort (z. B. Abwesenheitsnotiz)"),
        "{}",
        page.body
    );
    assert!(!page.contains("auto_reply"));
}
