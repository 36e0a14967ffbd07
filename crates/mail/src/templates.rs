//! The notification mails: what Ticketwerk tells customers about their
//! tickets, in German and English, each as a plain-text and an HTML pair.
//!
//! The defaults are compiled in, so a fresh installation sends sensible
//! mail. An operator brands or rewords them by placing a file of the same
//! name (`ticket_received.de.html`, `layout.html`, …) in an override
//! directory given at start. Overrides are checked at load, by compiling
//! and test-rendering every template, so a typo stops the start with the
//! file's name instead of breaking a mail at three in the morning.
//!
//! The mail to the person a ticket was reported for extends the one to the
//! reporter and replaces only its opening (`{% block intro %}`).
//!
//! HTML templates are auto-escaped; text templates are not, since a mail's
//! text part is no markup. The subject is no template: it always has the
//! ticket number in brackets, which incoming mail is matched by.

use std::path::{Path, PathBuf};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, HtmlEscape, UndefinedBehavior};
use serde::Serialize;
use ticketwerk_domain::TicketNumber;
use ticketwerk_domain::masterdata::Language;

use crate::{one_line, truncate};

pub use ticketwerk_domain::notify::Template;

/// The file of a template in a language and kind.
fn file(template: Template, lang: Language, kind: Kind) -> String {
    format!("{}.{}.{}", template.name(), lang.code(), kind.extension())
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Html,
}

impl Kind {
    fn extension(self) -> &'static str {
        match self {
            Kind::Text => "txt",
            Kind::Html => "html",
        }
    }
}

/// The frame every HTML mail extends; overridable like the rest.
const LAYOUT: &str = "layout.html";

/// Every shipped template, by file name.
const SHIPPED: &[(&str, &str)] = &[
    (LAYOUT, include_str!("../templates/layout.html")),
    (
        "ticket_received.de.txt",
        include_str!("../templates/ticket_received.de.txt"),
    ),
    (
        "ticket_received.de.html",
        include_str!("../templates/ticket_received.de.html"),
    ),
    (
        "ticket_received.en.txt",
        include_str!("../templates/ticket_received.en.txt"),
    ),
    (
        "ticket_received.en.html",
        include_str!("../templates/ticket_received.en.html"),
    ),
    (
        "ticket_received_for_you.de.txt",
        include_str!("../templates/ticket_received_for_you.de.txt"),
    ),
    (
        "ticket_received_for_you.de.html",
        include_str!("../templates/ticket_received_for_you.de.html"),
    ),
    (
        "ticket_received_for_you.en.txt",
        include_str!("../templates/ticket_received_for_you.en.txt"),
    ),
    (
        "ticket_received_for_you.en.html",
        include_str!("../templates/ticket_received_for_you.en.html"),
    ),
    (
        "desk_question.de.txt",
        include_str!("../templates/desk_question.de.txt"),
    ),
    (
        "desk_question.de.html",
        include_str!("../templates/desk_question.de.html"),
    ),
    (
        "desk_question.en.txt",
        include_str!("../templates/desk_question.en.txt"),
    ),
    (
        "desk_question.en.html",
        include_str!("../templates/desk_question.en.html"),
    ),
    (
        "solution.de.txt",
        include_str!("../templates/solution.de.txt"),
    ),
    (
        "solution.de.html",
        include_str!("../templates/solution.de.html"),
    ),
    (
        "solution.en.txt",
        include_str!("../templates/solution.en.txt"),
    ),
    (
        "solution.en.html",
        include_str!("../templates/solution.en.html"),
    ),
    (
        "status_changed.de.txt",
        include_str!("../templates/status_changed.de.txt"),
    ),
    (
        "status_changed.de.html",
        include_str!("../templates/status_changed.de.html"),
    ),
    (
        "status_changed.en.txt",
        include_str!("../templates/status_changed.en.txt"),
    ),
    (
        "status_changed.en.html",
        include_str!("../templates/status_changed.en.html"),
    ),
];

/// What a template may use. Every field is always defined (absent ones as
/// `none`), so templates test with `{% if reference %}`.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    pub number: TicketNumber,
    pub short_text: String,
    /// The customer's own ticket number, if they gave one.
    pub reference: Option<String>,
    pub recipient_name: String,
    /// Who reported the ticket, for the mail to the person it is for.
    pub reported_by: Option<String>,
    /// The status as the recipient reads it, in their language.
    pub status_label: Option<String>,
    /// The desk's question or the solution.
    pub entry_body: Option<String>,
    /// Where the recipient opens the ticket in the portal.
    pub portal_url: String,
    pub provider_name: String,
}

impl Context {
    /// A context with every field set, for checking templates.
    fn sample() -> Self {
        Context {
            number: TicketNumber::new(2026, 123),
            short_text: "Drucker druckt nicht".into(),
            reference: Some("INC-4711".into()),
            recipient_name: "Anna Berg".into(),
            reported_by: Some("Jörg Müller".into()),
            status_label: Some("In Bearbeitung".into()),
            entry_body: Some("Bitte starten Sie den Drucker neu.".into()),
            portal_url: "https://portal.example/tickets/2026-000123".into(),
            provider_name: "Beispiel IT".into(),
        }
    }
}

/// A rendered notification, ready for [`crate::outbound`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the mail template override {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} in the mail template directory is no known template; \
         the names are like ticket_received.de.html"
    )]
    Unknown { path: PathBuf },
    #[error("mail template {file} is broken: {source:#}")]
    Broken {
        file: String,
        source: minijinja::Error,
    },
}

/// The notification templates, compiled and checked.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The shipped templates, each replaced by a file of the same name in
    /// `override_dir` when there is one. Files there ending in `.txt` or
    /// `.html` must be known templates: a misspelt name would otherwise be
    /// ignored without a word.
    pub fn load(override_dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_filter("paragraphs", paragraphs);
        for (file, source) in SHIPPED {
            env.add_template(file, source)
                .map_err(|e| broken(file, e))?;
        }
        if let Some(dir) = override_dir {
            add_overrides(&mut env, dir)?;
        }
        let templates = Self { env };
        templates.check()?;
        Ok(templates)
    }

    /// Renders `template` in `lang`, with the subject from [`subject`].
    pub fn render(
        &self,
        template: Template,
        lang: Language,
        context: &Context,
    ) -> Result<Rendered, TemplateError> {
        let subject = subject(
            &context.number,
            &context.short_text,
            context.reference.as_deref(),
            lang,
        );
        let values = minijinja::context! {
            lang => lang.code(),
            subject => &subject,
            ..Value::from_serialize(context)
        };
        let text = self.render_file(&file(template, lang, Kind::Text), &values)?;
        let html = self.render_file(&file(template, lang, Kind::Html), &values)?;
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }

    fn render_file(&self, file: &str, values: &Value) -> Result<String, TemplateError> {
        self.env
            .get_template(file)
            .and_then(|t| t.render(values))
            .map_err(|e| broken(file, e))
    }

    /// Renders every template in every language with a full sample, so a
    /// misspelt variable of an override shows at start.
    fn check(&self) -> Result<(), TemplateError> {
        let sample = Context::sample();
        for template in Template::ALL {
            for lang in Language::ALL {
                self.render(*template, *lang, &sample)?;
            }
        }
        Ok(())
    }
}

fn add_overrides(env: &mut Environment<'static>, dir: &Path) -> Result<(), TemplateError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TemplateError::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let path = entry.map_err(read_error(dir))?.path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let known = SHIPPED.iter().any(|(name, _)| *name == file);
        let looks_like_template = file.ends_with(".txt") || file.ends_with(".html");
        if !known {
            if looks_like_template {
                return Err(TemplateError::Unknown { path });
            }
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(read_error(&path))?;
        let file = file.to_string();
        env.add_template_owned(file.clone(), source)
            .map_err(|e| broken(&file, e))?;
    }
    Ok(())
}

fn broken(file: &str, source: minijinja::Error) -> TemplateError {
    TemplateError::Broken {
        file: file.to_string(),
        source,
    }
}

/// Text as HTML paragraphs: escaped, blank lines between paragraphs, line
/// breaks kept. For the desk's question and the solution in HTML mail.
fn paragraphs(text: &str) -> Value {
    let html: Vec<String> = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lines: Vec<String> = p.lines().map(|l| HtmlEscape(l).to_string()).collect();
            format!("<p>{}</p>", lines.join("<br>\n"))
        })
        .collect();
    Value::from_safe_string(html.join("\n"))
}

/// The subject of every notification: `[2026-000123] Drucker druckt nicht`,
/// followed by ` (Ihre Referenz: X)` or ` (your reference: X)` when the
/// customer gave their own number. On one line, the short text cut at 120
/// and the reference at 60 characters, so the number always survives.
pub fn subject(
    number: &TicketNumber,
    short_text: &str,
    reference: Option<&str>,
    lang: Language,
) -> String {
    let short_text = truncate(&one_line(short_text), 120);
    let mut subject = format!("[{number}] {short_text}").trim_end().to_string();
    if let Some(reference) = reference.map(one_line).filter(|r| !r.is_empty()) {
        let reference = truncate(&reference, 60);
        let label = match lang {
            Language::De => "Ihre Referenz",
            Language::En => "your reference",
        };
        subject.push_str(&format!(" ({label}: {reference})"));
    }
    subject
}

#[cfg(test)]
mod tests;
