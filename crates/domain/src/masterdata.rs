//! Master data the desk keeps: business partners with their departments
//! and locations, persons, contracts naming authorised persons, services
//! and systems. Every input is checked here once, for the desk's forms and
//! the CSV import alike; a value of these types is valid.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, FieldError};
use crate::ticket::{clean_text, code_enum};
use crate::{Email, Id, Timestamp};

code_enum! {
    /// How a business partner is divided.
    UnitKind { Department => "department", Location => "location" }
}

code_enum! {
    /// What kind of device a system is.
    SystemKind {
        Laptop => "laptop",
        Desktop => "desktop",
        Monitor => "monitor",
        DockingStation => "docking_station",
        Keyboard => "keyboard",
        Mouse => "mouse",
        Headset => "headset",
        Phone => "phone",
        Tablet => "tablet",
        Printer => "printer",
        Other => "other",
    }
}

code_enum! {
    /// The languages of the user interface and of mails.
    Language { De => "de", En => "en" }
}

impl SystemKind {
    /// Reads a kind as a spreadsheet may spell it: the code, or its German
    /// or English name in any case.
    pub fn parse_loose(raw: &str) -> Option<Self> {
        let v = raw.trim().to_lowercase();
        if let Ok(kind) = v.parse() {
            return Some(kind);
        }
        Some(match v.as_str() {
            "notebook" => Self::Laptop,
            "pc" | "desktop-pc" | "arbeitsplatzrechner" | "rechner" => Self::Desktop,
            "bildschirm" | "monitor" | "display" => Self::Monitor,
            "tastatur" => Self::Keyboard,
            "dockingstation" | "docking station" | "docking-station" | "dock" => {
                Self::DockingStation
            }
            "maus" => Self::Mouse,
            "telefon" | "handy" | "smartphone" | "mobiltelefon" => Self::Phone,
            "drucker" => Self::Printer,
            "sonstiges" | "andere" => Self::Other,
            _ => return None,
        })
    }
}

impl Language {
    pub fn parse_loose(raw: &str) -> Option<Self> {
        match raw.trim().to_lowercase().as_str() {
            "" | "de" | "deutsch" | "german" => Some(Self::De),
            "en" | "englisch" | "english" => Some(Self::En),
            _ => None,
        }
    }
}

pub const MAX_NAME: usize = 200;
pub const MAX_CUSTOMER_NUMBER: usize = 32;
pub const MAX_PHONE: usize = 40;
pub const MAX_DESCRIPTION: usize = 20_000;
pub const MAX_INVENTORY: usize = 100;

/// Collects the problems of one input, field by field.
#[derive(Default)]
struct Check(Vec<FieldError>);

impl Check {
    fn fail(&mut self, field: &'static str, code: &'static str) {
        if !self.0.iter().any(|e| e.field == field) {
            self.0.push(FieldError { field, code });
        }
    }

    /// A one-line text: cleaned, required or not, at most `max` characters.
    fn line(&mut self, field: &'static str, raw: &str, required: bool, max: usize) -> String {
        let v = clean_text(raw, false);
        if required && v.is_empty() {
            self.fail(field, "form.required");
        } else if v.chars().count() > max {
            self.fail(field, "form.too_long");
        }
        v
    }

    fn done<T>(self, value: T) -> Result<T, DomainError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

/// A business partner's own data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerInput {
    pub customer_number: String,
    pub name: String,
}

impl PartnerInput {
    pub fn parse(customer_number: &str, name: &str) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let customer_number = c.line(
            "customer_number",
            customer_number,
            true,
            MAX_CUSTOMER_NUMBER,
        );
        let plausible = customer_number
            .chars()
            .all(|ch| ch.is_alphanumeric() || matches!(ch, '-' | '_' | '.' | '/'));
        if !customer_number.is_empty() && !plausible {
            c.fail("customer_number", "form.customer_number_chars");
        }
        let name = c.line("name", name, true, MAX_NAME);
        c.done(Self {
            customer_number,
            name,
        })
    }
}

/// A department or location of a business partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitInput {
    pub kind: UnitKind,
    pub name: String,
}

impl UnitInput {
    pub fn parse(kind: &str, name: &str) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let kind = kind.parse::<UnitKind>().ok();
        if kind.is_none() {
            c.fail("kind", "form.unknown_choice");
        }
        let name = c.line("name", name, true, MAX_NAME);
        match kind {
            Some(kind) => c.done(Self { kind, name }),
            None => Err(DomainError::Invalid(c.0)),
        }
    }
}

/// A person's own data (not their memberships or authority).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonInput {
    pub name: String,
    pub email: Email,
    pub phone: String,
    pub language: Language,
}

impl PersonInput {
    pub fn parse(
        name: &str,
        email: &str,
        phone: &str,
        language: &str,
    ) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let name = c.line("name", name, true, MAX_NAME);
        let email = if email.trim().is_empty() {
            c.fail("email", "form.required");
            None
        } else {
            let parsed = Email::parse(email).ok();
            if parsed.is_none() {
                c.fail("email", "form.invalid_email");
            }
            parsed
        };
        let phone = c.line("phone", phone, false, MAX_PHONE);
        if !phone
            .chars()
            .all(|ch| ch.is_ascii_digit() || " +-/()".contains(ch))
        {
            c.fail("phone", "form.phone_chars");
        }
        let language = Language::parse_loose(language);
        if language.is_none() {
            c.fail("language", "form.language_values");
        }
        match (email, language) {
            (Some(email), Some(language)) => c.done(Self {
                name,
                email,
                phone,
                language,
            }),
            _ => Err(DomainError::Invalid(c.0)),
        }
    }
}

/// A service booked by a business partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInput {
    pub name: String,
    pub description: String,
    pub active: bool,
}

impl ServiceInput {
    pub fn parse(name: &str, description: &str, active: bool) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let name = c.line("name", name, true, MAX_NAME);
        let description = clean_text(description, true);
        if description.chars().count() > MAX_DESCRIPTION {
            c.fail("description", "form.too_long");
        }
        c.done(Self {
            name,
            description,
            active,
        })
    }
}

/// A system registered for a business partner. The person who uses it,
/// if any, must be a member of that business partner (checked where the
/// memberships are known: in storage, in the same transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemInput {
    pub kind: SystemKind,
    pub name: String,
    pub inventory_number: String,
    pub user: Option<Id>,
    pub active: bool,
}

impl SystemInput {
    pub fn parse(
        kind: &str,
        name: &str,
        inventory_number: &str,
        user: Option<Id>,
        active: bool,
    ) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let empty = kind.trim().is_empty();
        let kind = SystemKind::parse_loose(kind);
        match kind {
            None if empty => c.fail("kind", "form.choose_required"),
            None => c.fail("kind", "form.system_kind_values"),
            Some(_) => {}
        }
        let name = c.line("name", name, true, MAX_NAME);
        let inventory_number = c.line("inventory_number", inventory_number, false, MAX_INVENTORY);
        match kind {
            Some(kind) => c.done(Self {
                kind,
                name,
                inventory_number,
                user,
                active,
            }),
            None => Err(DomainError::Invalid(c.0)),
        }
    }
}

/// When a contract or an authorisation is in force: from `starts_at`
/// until before `ends_at` (open-ended when `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
}

impl Period {
    /// A period must end after it starts.
    pub fn new(starts_at: Timestamp, ends_at: Option<Timestamp>) -> Result<Self, DomainError> {
        match ends_at {
            Some(end) if end <= starts_at => Err(DomainError::invalid(
                "valid_until",
                "form.ends_before_start",
            )),
            _ => Ok(Self { starts_at, ends_at }),
        }
    }

    pub fn in_force(&self, now: Timestamp) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }

    /// The same period ended at `now`, if it is still running then.
    pub fn ended_at(&self, now: Timestamp) -> Option<Self> {
        if self.ends_at.is_some_and(|end| end <= now) {
            return None;
        }
        Some(Self {
            starts_at: self.starts_at.min(now),
            ends_at: Some(now),
        })
    }
}

/// A contract of a business partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractInput {
    pub name: String,
    pub period: Period,
}

impl ContractInput {
    pub fn parse(name: &str, period: Result<Period, DomainError>) -> Result<Self, DomainError> {
        let mut c = Check::default();
        let name = c.line("name", name, true, MAX_NAME);
        let period = match period {
            Ok(p) => Some(p),
            Err(DomainError::Invalid(errors)) => {
                for e in errors {
                    c.fail(e.field, e.code);
                }
                None
            }
            Err(other) => return Err(other),
        };
        match period {
            Some(period) => c.done(Self { name, period }),
            None => Err(DomainError::Invalid(c.0)),
        }
    }
}

/// One change of one field, for the change log: field, before, after.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange(pub String, pub String, pub String);

/// The fields that differ between two lists of (field, value), in order.
pub fn diff(before: &[(&str, String)], after: &[(&str, String)]) -> Vec<FieldChange> {
    after
        .iter()
        .filter_map(|(field, new)| {
            let old = before
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (old != *new).then(|| FieldChange(field.to_string(), old, new.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(e: DomainError) -> Vec<(&'static str, &'static str)> {
        match e {
            DomainError::Invalid(v) => v.into_iter().map(|f| (f.field, f.code)).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn partner_needs_number_and_name() {
        assert_eq!(
            codes(PartnerInput::parse(" ", "").unwrap_err()),
            vec![
                ("customer_number", "form.required"),
                ("name", "form.required")
            ]
        );
        assert_eq!(
            codes(PartnerInput::parse("K 1<", "X").unwrap_err()),
            vec![("customer_number", "form.customer_number_chars")]
        );
        let p = PartnerInput::parse(" K-10003 ", " Bäckerei Korn ").unwrap();
        assert_eq!(
            (p.customer_number.as_str(), p.name.as_str()),
            ("K-10003", "Bäckerei Korn")
        );
    }

    #[test]
    fn person_fields_are_checked_together() {
        assert_eq!(
            codes(PersonInput::parse("", "nope", "abc", "fr").unwrap_err()),
            vec![
                ("name", "form.required"),
                ("email", "form.invalid_email"),
                ("phone", "form.phone_chars"),
                ("language", "form.language_values"),
            ]
        );
        // A kind nobody chose asks for a choice; a kind unknown names the
        // possible ones.
        for (kind, code) in [
            ("", "form.choose_required"),
            ("Toaster", "form.system_kind_values"),
        ] {
            let refused = SystemInput::parse(kind, "Gerät", "", None, true).unwrap_err();
            assert_eq!(codes(refused), vec![("kind", code)]);
        }
        assert_eq!(
            SystemInput::parse(" Tastatur ", "Gerät", "", None, true)
                .unwrap()
                .kind,
            SystemKind::Keyboard
        );
        let p =
            PersonInput::parse("Eva Roth", "Eva.Roth@Example.DE", "+49 (30) 123-4", "").unwrap();
        assert_eq!(p.email.as_str(), "eva.roth@example.de");
        assert_eq!(p.language, Language::De);
    }

    #[test]
    fn system_kinds_read_as_spreadsheets_write_them() {
        assert_eq!(
            SystemKind::parse_loose("Bildschirm"),
            Some(SystemKind::Monitor)
        );
        assert_eq!(
            SystemKind::parse_loose(" LAPTOP "),
            Some(SystemKind::Laptop)
        );
        assert_eq!(
            SystemKind::parse_loose("Tastatur"),
            Some(SystemKind::Keyboard)
        );
        assert_eq!(SystemKind::parse_loose("Toaster"), None);
    }

    #[test]
    fn periods_end_after_they_start() {
        assert!(Period::new(100, Some(100)).is_err());
        let p = Period::new(100, Some(200)).unwrap();
        assert!(!p.in_force(99));
        assert!(p.in_force(100));
        assert!(p.in_force(199));
        assert!(!p.in_force(200));
        assert_eq!(
            p.ended_at(150),
            Some(Period {
                starts_at: 100,
                ends_at: Some(150)
            })
        );
        assert_eq!(p.ended_at(250), None);
        let open = Period::new(100, None).unwrap();
        assert!(open.in_force(i64::MAX));
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let before = [("name", "A".to_string()), ("phone", "1".to_string())];
        let after = [("name", "B".to_string()), ("phone", "1".to_string())];
        assert_eq!(
            diff(&before, &after),
            vec![FieldChange("name".into(), "A".into(), "B".into())]
        );
    }
}
