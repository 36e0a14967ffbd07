//! The change log as the desk reads it: when, who, which object, what was
//! done, and each field from its old value to its new one, in the
//! reader's language. Dates, flags, kinds and persons are shown as the
//! forms show them, never as the numbers the log keeps.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use ticketwerk_domain::Id;
use ticketwerk_domain::model::ChangeEntry;

use crate::dates::{show, show_end};
use crate::i18n::{Lang, text};
use crate::{App, WebError};

/// One entry of the log, ready to show.
#[derive(serde::Serialize)]
pub(super) struct Line {
    at: i64,
    who: String,
    object: String,
    /// The object's page, where it has one.
    href: Option<String>,
    action: String,
    changes: Vec<Changed>,
}

#[derive(serde::Serialize)]
struct Changed {
    field: String,
    old: String,
    new: String,
}

/// Fields that name a person by id.
const PERSON_FIELDS: &[&str] = &["person_id", "user_id"];

pub(super) async fn shown(
    app: &App,
    lang: Lang,
    entries: Vec<ChangeEntry>,
) -> Result<Vec<Line>, WebError> {
    let zone = super::zone(app)?;
    let names = person_names(app, &entries).await?;
    let reader = Reader {
        lang,
        zone: &zone,
        names: &names,
    };
    Ok(entries.into_iter().map(|e| reader.line(e)).collect())
}

/// The names of the persons the entries refer to: in fields, and as the
/// object of a membership (which the log keeps under the person's id).
async fn person_names(app: &App, entries: &[ChangeEntry]) -> Result<HashMap<Id, String>, WebError> {
    let mut names = HashMap::new();
    let in_fields = entries
        .iter()
        .flat_map(|e| &e.changes)
        .filter(|c| PERSON_FIELDS.contains(&c.0.as_str()))
        .flat_map(|c| [&c.1, &c.2])
        .filter_map(|v| v.parse::<Id>().ok());
    let members = entries
        .iter()
        .filter(|e| e.object_kind == "membership")
        .map(|e| e.object_id);
    for id in in_fields.chain(members) {
        if names.contains_key(&id) {
            continue;
        }
        if let Some(p) = app.store().person(id).await? {
            names.insert(id, p.name);
        }
    }
    Ok(names)
}

struct Reader<'a> {
    lang: Lang,
    zone: &'a TimeZone,
    names: &'a HashMap<Id, String>,
}

impl Reader<'_> {
    fn line(&self, e: ChangeEntry) -> Line {
        let changes = e
            .changes
            .iter()
            .map(|c| Changed {
                field: self.text(&format!("md.field.{}", c.0)),
                old: self.value(&e.object_kind, &c.0, &c.1),
                new: self.value(&e.object_kind, &c.0, &c.2),
            })
            .collect();
        Line {
            at: e.at,
            object: self.object(&e),
            who: e
                .actor_name
                .unwrap_or_else(|| self.text("md.history.nobody")),
            href: page_of(&e.object_kind, e.object_id),
            action: self.text(&format!("md.action.{}", e.action)),
            changes,
        }
    }

    /// The kind of object; for a membership, whose it is.
    fn object(&self, e: &ChangeEntry) -> String {
        let kind = self.text(&format!("md.object.{}", e.object_kind));
        match self.names.get(&e.object_id) {
            Some(name) if e.object_kind == "membership" => format!("{kind}: {name}"),
            _ => kind,
        }
    }

    fn text(&self, key: &str) -> String {
        text(self.lang, key)
    }

    /// A logged value as the forms show it; empty stays empty, but for an
    /// end, where it means "open-ended".
    fn value(&self, object: &str, field: &str, raw: &str) -> String {
        let time = || raw.parse::<i64>().ok();
        match field {
            "ends_at" if raw.is_empty() => Some(self.text("md.open_ended")),
            _ if raw.is_empty() => Some(String::new()),
            "starts_at" => time().map(|t| show(t, self.zone, self.lang)),
            // The log keeps the exclusive end; people read the last day,
            // or the moment for an end that was not at a day's start.
            "ends_at" => time().map(|t| show_end(t, self.zone, self.lang)),
            "active" => Some(self.text(if raw == "1" { "md.yes" } else { "md.no" })),
            "kind" if object == "unit" => Some(self.text(&format!("unit_kind.{raw}"))),
            "kind" => Some(self.text(&format!("system_kind.{raw}"))),
            "language" => Some(self.text(&format!("md.language.{raw}"))),
            f if PERSON_FIELDS.contains(&f) => raw
                .parse::<Id>()
                .ok()
                .and_then(|id| self.names.get(&id).cloned()),
            _ => Some(raw.to_string()),
        }
        .unwrap_or_else(|| self.text("md.history.unknown"))
    }
}

/// The desk page of a logged object; a membership is its person's.
fn page_of(kind: &str, id: Id) -> Option<String> {
    let base = match kind {
        "business_partner" => "partners",
        "person" | "membership" => "persons",
        "contract" => "contracts",
        "service" => "services",
        "system" => "systems",
        _ => return None,
    };
    Some(format!("/desk/{base}/{id}"))
}
