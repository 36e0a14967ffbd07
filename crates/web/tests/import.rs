//! The desk's CSV import as an agent uses it: a file with bad rows is
//! refused row by row and writes nothing; a dry run reports; the real run
//! creates everything.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, Page, spawn};

fn upload(csrf: String, kind: &str, file: &str, dry_run: bool) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(file.as_bytes().to_vec())
        .file_name("personen.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("kind", kind.to_string())
        .part("file", part);
    if dry_run {
        form.text("dry_run", "1")
    } else {
        form
    }
}

async fn import(dana: &Client, kind: &str, file: &str, dry_run: bool) -> Page {
    let csrf = dana.get("/desk/import").await.csrf();
    dana.post_multipart("/desk/import", upload(csrf, kind, file, dry_run))
        .await
}

#[tokio::test]
async fn an_agent_imports_persons_all_or_nothing() {
    let app = spawn().await;
    app.business_partner("K-1", "Müller GmbH").await;
    app.agent("dana@desk.example", "Dana Desk").await;
    let mut dana = app.client();
    dana.enrol("dana@desk.example").await;

    let bad = "Kundennummer;Name;E-Mail;Abteilung\n\
               K-1;Eva Roth;eva@mueller.example;Einkauf\n\
               K-9;Tom Li;tom@mueller.example;\n\
               K-1;;ohne.name@mueller.example;\n";
    let page = import(&dana, "persons", bad, false).await;
    assert_eq!(page.status, 422);
    assert!(page.contains("Es wurde nichts angelegt."));
    assert!(page.contains("<td>3</td><td>customer_number</td><td>Einen Geschäftspartner mit dieser Kundennummer gibt es nicht.</td>"), "{}", page.body);
    assert!(page.contains("<td>4</td><td>name</td><td>Bitte füllen Sie dieses Feld aus.</td>"));
    assert!(
        !dana.get("/desk/persons?q=Eva").await.contains("Eva Roth"),
        "nothing written"
    );

    let good = "Kundennummer;Name;E-Mail;Abteilung\n\
                K-1;Eva Roth;eva@mueller.example;Einkauf\n\
                K-1;Tom Li;tom@mueller.example;Einkauf\n";
    let page = import(&dana, "persons", good, true).await;
    assert_eq!(page.status, 200);
    assert!(page.contains("Probelauf: alle Zeilen sind in Ordnung."));
    assert!(page.contains("2 würden angelegt"));
    assert!(
        !dana.get("/desk/persons?q=Eva").await.contains("Eva Roth"),
        "a dry run writes nothing"
    );

    let page = import(&dana, "persons", good, false).await;
    assert!(
        page.contains("Der Import ist abgeschlossen."),
        "{}",
        page.body
    );
    assert!(page.contains("2 angelegt"));
    assert!(dana.get("/desk/persons?q=Eva").await.contains("Eva Roth"));

    // A file that is no CSV of persons at all.
    let page = import(&dana, "persons", "Farbe;Form\nrot;rund\n", false).await;
    assert_eq!(page.status, 422);
    assert!(page.contains("Diese Spalte ist unbekannt."));
    let template = dana.get("/desk/import/template/systems.csv").await;
    assert_eq!(
        template.body,
        "customer_number;kind;name;inventory_number;user_email\n"
    );
}
