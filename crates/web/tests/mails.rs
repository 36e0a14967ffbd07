//! The desk sees what was mailed about a ticket and what became of it;
//! a customer sees nothing of it. Over HTTP against the real server.
#![allow(clippy::unwrap_used)]

mod common;

use common::{spawn, ticket_number};
use ticketwerk_domain::notify::Template;

/// The text of the desk's mail table, without its tags.
fn mail_table(html: &str) -> String {
    let start = html.find("id=\"mails\"").expect("a mail table");
    let end = start + html[start..].find("</table>").unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_desk_sees_a_ticket_s_mails_and_the_customer_does_not() {
    let app = spawn().await;
    let bp = app.business_partner("10001", "Müller GmbH").await;
    let anna = app.customer("anna@mueller.example", "Anna Berg", bp).await;
    app.agent("dana@desk.example", "Dana Desk").await;
    let mut customer = app.client();
    customer.enrol("anna@mueller.example").await;
    let mut desk = app.client();
    desk.enrol("dana@desk.example").await;

    let number = ticket_number(&customer.create_ticket("Drucker druckt nicht", &[]).await);
    let page = desk.get(&format!("/tickets/{number}")).await;
    let mails = mail_table(&page.body);
    assert!(mails.contains("Eingang des Tickets"), "{mails}");
    assert!(mails.contains("anna@mueller.example"), "{mails}");
    assert!(mails.contains("Wartet auf Versand"), "{mails}");

    let own = customer.get(&format!("/tickets/{number}")).await;
    assert!(own.contains("Drucker druckt nicht"));
    assert!(!own.contains("mails-title"), "no mail list for customers");
    assert!(!own.contains("Wartet auf Versand"));

    // Anna mutes status mails: the desk sees it was not sent, and why.
    app.store
        .set_muted_templates(anna, &[Template::StatusChanged])
        .await
        .unwrap();
    desk.post(
        &format!("/tickets/{number}/classify"),
        &[("csrf", &desk.csrf().await), ("value", "incident")],
    )
    .await;
    desk.add_entry(&number, "solution", "Neu gestartet.").await;
    desk.post(
        &format!("/tickets/{number}/status"),
        &[("csrf", &desk.csrf().await), ("value", "closed")],
    )
    .await;
    let page = desk.get(&format!("/tickets/{number}")).await;
    let mails = mail_table(&page.body);
    assert!(mails.contains("Lösung"), "{mails}");
    assert!(mails.contains("Statusänderung"), "{mails}");
    assert!(
        mails.contains("Die Person hat diese E-Mail abbestellt."),
        "{mails}"
    );
}
