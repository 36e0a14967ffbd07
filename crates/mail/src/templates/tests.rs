use super::*;

fn context() -> Context {
    Context {
        short_text: "Drucker <b>druckt</b> nicht & piept".into(),
        reference: None,
        status_label: Some("Rückfrage an Sie".into()),
        entry_body: Some("Bitte prüfen Sie das Kabel.\n\nDanach <neu> starten.".into()),
        ..Context::sample()
    }
}

fn shipped() -> Templates {
    match Templates::load(None) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn render(templates: &Templates, template: Template, lang: Language) -> Rendered {
    match templates.render(template, lang, &context()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_template_renders_in_both_languages() {
    let templates = shipped();
    for template in Template::ALL {
        for lang in Language::ALL {
            let mail = render(&templates, *template, *lang);
            assert!(mail.text.contains("2026-000123"), "{template} {lang:?}");
            assert!(mail.html.contains("2026-000123"), "{template} {lang:?}");
            assert!(
                mail.html
                    .contains("href=\"https:&#x2f;&#x2f;portal.example")
            );
            assert!(mail.text.contains("Beispiel IT"));
        }
    }
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let mail = render(&shipped(), Template::DeskQuestion, Language::De);
    assert!(
        mail.text.contains("Drucker <b>druckt</b> nicht & piept"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("Danach <neu> starten."), "{}", mail.text);
    assert!(
        mail.html
            .contains("Drucker &lt;b&gt;druckt&lt;&#x2f;b&gt; nicht &amp; piept")
    );
    assert!(
        mail.html
            .contains("<p>Bitte prüfen Sie das Kabel.</p>\n<p>Danach &lt;neu&gt; starten.</p>"),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("<b>druckt"));
}

#[test]
fn each_language_speaks_its_own() {
    let templates = shipped();
    let de = render(&templates, Template::TicketReceivedForYou, Language::De);
    let en = render(&templates, Template::TicketReceivedForYou, Language::En);
    assert!(de.text.starts_with("Guten Tag Anna Berg,"), "{}", de.text);
    assert!(
        de.text.contains("Jörg Müller hat für Sie das Ticket"),
        "{}",
        de.text
    );
    assert!(
        en.text.contains("Jörg Müller has reported the ticket"),
        "{}",
        en.text
    );
    assert!(de.html.contains("<html lang=\"de\">"));
    let status = render(&templates, Template::StatusChanged, Language::De);
    assert!(
        status.text.contains("ist jetzt: Rückfrage an Sie."),
        "{}",
        status.text
    );
}

#[test]
fn the_solution_cannot_be_muted() {
    let muted: Vec<&str> = Template::ALL
        .iter()
        .filter(|t| !t.mutable())
        .map(|t| t.name())
        .collect();
    assert_eq!(muted, ["solution"]);
    assert_eq!(
        Template::from_name("desk_question"),
        Some(Template::DeskQuestion)
    );
    assert_eq!(Template::from_name("bogus"), None);
}

#[test]
fn subject_has_number_text_and_reference() {
    let n = TicketNumber::new(2026, 123);
    assert_eq!(
        subject(&n, "Drucker druckt nicht", None, Language::De),
        "[2026-000123] Drucker druckt nicht"
    );
    assert_eq!(
        subject(&n, "Drucker druckt nicht", Some("INC-42"), Language::De),
        "[2026-000123] Drucker druckt nicht (Ihre Referenz: INC-42)"
    );
    assert_eq!(
        subject(&n, "Printer", Some(" INC-42 "), Language::En),
        "[2026-000123] Printer (your reference: INC-42)"
    );
    assert_eq!(subject(&n, "", Some(""), Language::En), "[2026-000123]");
}

#[test]
fn subject_is_one_line_and_capped() {
    let n = TicketNumber::new(2026, 123);
    let sneaky = subject(
        &n,
        "Hallo\r\nBcc: all@example.de",
        Some("A\nB"),
        Language::De,
    );
    assert_eq!(
        sneaky,
        "[2026-000123] Hallo Bcc: all@example.de (Ihre Referenz: A B)"
    );
    let long = subject(&n, &"x".repeat(500), Some(&"r".repeat(500)), Language::De);
    assert!(long.chars().count() < 220, "{}", long.chars().count());
    assert!(long.starts_with("[2026-000123] xxx"));
}

fn override_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    for (name, content) in files {
        if let Err(e) = std::fs::write(dir.path().join(name), content) {
            panic!("{e}");
        }
    }
    dir
}

#[test]
fn an_override_replaces_the_shipped_template() {
    let dir = override_dir(&[
        (
            "solution.en.txt",
            "Solved: {{ number }} by {{ provider_name }}",
        ),
        ("README", "not a template, ignored"),
    ]);
    let templates = Templates::load(Some(dir.path()));
    let mail = templates.map(|t| render(&t, Template::Solution, Language::En));
    assert_eq!(
        mail.map(|m| m.text).ok().as_deref(),
        Some("Solved: 2026-000123 by Beispiel IT")
    );
}

#[test]
fn a_broken_override_names_its_file() {
    for (file, content) in [
        (
            "desk_question.de.html",
            "{% extends \"layout.html\" %}{% block content %}",
        ),
        ("solution.de.txt", "{{ numbr }}"),
    ] {
        let dir = override_dir(&[(file, content)]);
        let error = Templates::load(Some(dir.path()))
            .err()
            .map(|e| e.to_string());
        let message = error.unwrap_or_default();
        assert!(message.contains(file), "{message}");
    }
}

#[test]
fn an_unknown_template_file_is_an_error() {
    let dir = override_dir(&[("ticket_recieved.de.txt", "typo in the name")]);
    let error = Templates::load(Some(dir.path())).err();
    assert!(
        matches!(error, Some(TemplateError::Unknown { .. })),
        "{error:?}"
    );
}
