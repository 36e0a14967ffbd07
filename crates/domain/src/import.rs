//! Reading persons and systems from CSV, as a spreadsheet exports them:
//! `;`, `,` or tab as separator, UTF-8 (with or without BOM) or
//! Windows-1252, headers in German or English in any order. Every row is
//! checked; what needs the database (does the business partner exist, is
//! the address free) is checked by storage in the transaction that writes.

use std::collections::HashMap;

use crate::Email;
use crate::error::DomainError;
use crate::masterdata::{PersonInput, SystemInput};

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 20_000;

/// What an import file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Persons,
    Systems,
}

impl ImportKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "persons" => Some(Self::Persons),
            "systems" => Some(Self::Systems),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Persons => "persons",
            Self::Systems => "systems",
        }
    }

    /// The columns, each with the header names accepted for it; the
    /// first name is the one the template shows.
    fn columns(self) -> &'static [Column] {
        match self {
            Self::Persons => &PERSON_COLUMNS,
            Self::Systems => &SYSTEM_COLUMNS,
        }
    }

    /// The header line of a template file.
    pub fn template(self) -> String {
        let names: Vec<&str> = self.columns().iter().map(|c| c.names[0]).collect();
        format!("{}\n", names.join(";"))
    }
}

struct Column {
    field: &'static str,
    required: bool,
    names: &'static [&'static str],
}

const PERSON_COLUMNS: [Column; 6] = [
    Column {
        field: "customer_number",
        required: true,
        names: &[
            "customer_number",
            "kundennummer",
            "kunden-nr",
            "kunden-nr.",
            "kundennr",
        ],
    },
    Column {
        field: "name",
        required: true,
        names: &["name"],
    },
    Column {
        field: "email",
        required: true,
        names: &["email", "e-mail", "mail"],
    },
    Column {
        field: "phone",
        required: false,
        names: &["phone", "telefon"],
    },
    Column {
        field: "language",
        required: false,
        names: &["language", "sprache"],
    },
    Column {
        field: "department",
        required: false,
        names: &["department", "abteilung"],
    },
];

const SYSTEM_COLUMNS: [Column; 5] = [
    Column {
        field: "customer_number",
        required: true,
        names: &[
            "customer_number",
            "kundennummer",
            "kunden-nr",
            "kunden-nr.",
            "kundennr",
        ],
    },
    Column {
        field: "kind",
        required: true,
        names: &["kind", "art", "typ"],
    },
    Column {
        field: "name",
        required: true,
        names: &["name", "bezeichnung"],
    },
    Column {
        field: "inventory_number",
        required: false,
        names: &[
            "inventory_number",
            "inventarnummer",
            "seriennummer",
            "serial_number",
        ],
    },
    Column {
        field: "user_email",
        required: false,
        names: &["user_email", "nutzer", "benutzer", "nutzer-e-mail"],
    },
];

/// Why a row (or, at line 0, the whole file) is refused: the line in the
/// file, the column, and a message key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub code: &'static str,
}

impl RowError {
    pub fn new(line: u64, field: &str, code: &'static str) -> Self {
        Self {
            line,
            field: field.to_string(),
            code,
        }
    }
}

/// A person to import, with the business partner they join.
#[derive(Clone, Debug)]
pub struct PersonRow {
    pub line: u64,
    pub customer_number: String,
    pub person: PersonInput,
    pub department: String,
}

/// A system to import, with its business partner and the address of its user.
#[derive(Clone, Debug)]
pub struct SystemRow {
    pub line: u64,
    pub customer_number: String,
    pub system: SystemInput,
    pub user_email: Option<Email>,
}

/// The rows of a file and what is wrong with the others.
#[derive(Clone, Debug)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    pub errors: Vec<RowError>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Text from a file: UTF-8 (a BOM dropped) or else Windows-1252, which is
/// what spreadsheets on German Windows write.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    [b';', b'\t', b',']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b';')
}

/// The records of a file keyed by field, with their line numbers.
type Records = Vec<(u64, HashMap<&'static str, String>)>;

fn records(kind: ImportKind, bytes: &[u8]) -> Result<Records, RowError> {
    let text = decode(bytes);
    if text.trim().is_empty() {
        return Err(RowError::new(0, "", "import.empty_file"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(&text))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| RowError::new(1, "", "import.unreadable"))?
        .clone();
    let mut positions: Vec<(&'static str, usize)> = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let header = header.trim().to_lowercase();
        let column = kind
            .columns()
            .iter()
            .find(|c| c.names.contains(&header.as_str()));
        match column {
            Some(c) if positions.iter().any(|(f, _)| *f == c.field) => {
                return Err(RowError::new(1, c.field, "import.duplicate_column"));
            }
            Some(c) => positions.push((c.field, i)),
            None if header.is_empty() => {}
            None => return Err(RowError::new(1, &header, "import.unknown_column")),
        }
    }
    for c in kind.columns() {
        if c.required && !positions.iter().any(|(f, _)| *f == c.field) {
            return Err(RowError::new(1, c.field, "import.missing_column"));
        }
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(&text, p.byte()));
            RowError::new(line, "", "import.unreadable")
        })?;
        let line = record.position().map_or(0, |p| line_at(&text, p.byte()));
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if out.len() >= MAX_ROWS {
            return Err(RowError::new(line, "", "import.too_many_rows"));
        }
        let values = positions
            .iter()
            .map(|(field, i)| (*field, record.get(*i).unwrap_or("").to_string()))
            .collect();
        out.push((line, values));
    }
    if out.is_empty() {
        return Err(RowError::new(0, "", "import.empty_file"));
    }
    Ok(out)
}

/// The line of the file (as a spreadsheet counts them, blank lines too)
/// that starts at this byte.
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    // A record's position can lie before the blank lines skipped to reach it.
    while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

fn push_invalid(errors: &mut Vec<RowError>, line: u64, e: DomainError) {
    match e {
        DomainError::Invalid(fields) => errors.extend(
            fields
                .into_iter()
                .map(|f| RowError::new(line, f.field, f.code)),
        ),
        _ => errors.push(RowError::new(line, "", "import.unreadable")),
    }
}

fn get<'a>(values: &'a HashMap<&'static str, String>, field: &str) -> &'a str {
    values.get(field).map(String::as_str).unwrap_or("")
}

/// Reads a persons file. An error of the file as a whole (unreadable,
/// unknown or missing column) comes back as `Err`.
pub fn parse_persons(bytes: &[u8]) -> Result<Parsed<PersonRow>, RowError> {
    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, values) in records(ImportKind::Persons, bytes)? {
        let customer_number = get(&values, "customer_number").to_string();
        if customer_number.is_empty() {
            parsed
                .errors
                .push(RowError::new(line, "customer_number", "form.required"));
        }
        match PersonInput::parse(
            get(&values, "name"),
            get(&values, "email"),
            get(&values, "phone"),
            get(&values, "language"),
        ) {
            Ok(person) => {
                let key = person.email.as_str().to_string();
                if seen.insert(key, line).is_some() {
                    parsed
                        .errors
                        .push(RowError::new(line, "email", "import.duplicate_in_file"));
                } else if !customer_number.is_empty() {
                    parsed.rows.push(PersonRow {
                        line,
                        customer_number,
                        person,
                        department: crate::ticket::clean_text(get(&values, "department"), false),
                    });
                }
            }
            Err(e) => push_invalid(&mut parsed.errors, line, e),
        }
    }
    Ok(parsed)
}

/// Reads a systems file.
pub fn parse_systems(bytes: &[u8]) -> Result<Parsed<SystemRow>, RowError> {
    let mut parsed = Parsed::default();
    for (line, values) in records(ImportKind::Systems, bytes)? {
        let customer_number = get(&values, "customer_number").to_string();
        if customer_number.is_empty() {
            parsed
                .errors
                .push(RowError::new(line, "customer_number", "form.required"));
        }
        let user = get(&values, "user_email");
        let user_email = if user.is_empty() {
            Ok(None)
        } else {
            Email::parse(user).map(Some)
        };
        if user_email.is_err() {
            parsed
                .errors
                .push(RowError::new(line, "user_email", "form.invalid_email"));
        }
        match SystemInput::parse(
            get(&values, "kind"),
            get(&values, "name"),
            get(&values, "inventory_number"),
            None,
            true,
        ) {
            Ok(system) => {
                if let (Ok(user_email), false) = (user_email, customer_number.is_empty()) {
                    parsed.rows.push(SystemRow {
                        line,
                        customer_number,
                        system,
                        user_email,
                    });
                }
            }
            Err(e) => push_invalid(&mut parsed.errors, line, e),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_german_spreadsheet() {
        let file = "\u{feff}Kundennummer;Name;E-Mail;Telefon;Sprache;Abteilung\n\
                    K-1;Eva Roth;eva@example.de;+49 30 1;de;Einkauf\n\
                    \n\
                    K-1;Tom Li;TOM@example.de;;en;\n";
        let parsed = parse_persons(file.as_bytes()).unwrap();
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].department, "Einkauf");
        assert_eq!(parsed.rows[1].person.email.as_str(), "tom@example.de");
        assert_eq!(parsed.rows[1].line, 4);
    }

    #[test]
    fn names_every_bad_row() {
        let file = "customer_number,name,email\nK-1,Eva,eva@example.de\nK-1,,x@example.de\n\
                    K-1,Tom,not-an-address\n,Ann,ann@example.de\nK-1,Eva B,EVA@example.de\n";
        let parsed = parse_persons(file.as_bytes()).unwrap();
        assert_eq!(
            parsed.errors,
            vec![
                RowError::new(3, "name", "form.required"),
                RowError::new(4, "email", "form.invalid_email"),
                RowError::new(5, "customer_number", "form.required"),
                RowError::new(6, "email", "import.duplicate_in_file"),
            ]
        );
    }

    #[test]
    fn refuses_files_it_cannot_read() {
        assert_eq!(parse_persons(b"").unwrap_err().code, "import.empty_file");
        assert_eq!(
            parse_persons(b"name;email\nEva;eva@example.de\n").unwrap_err(),
            RowError::new(1, "customer_number", "import.missing_column")
        );
        assert_eq!(
            parse_systems(b"kundennummer;art;name;farbe\n")
                .unwrap_err()
                .code,
            "import.unknown_column"
        );
    }

    #[test]
    fn reads_windows_1252() {
        let file = b"Kundennummer;Art;Bezeichnung\nK-1;Bildschirm;Gr\xf6\xdfer Monitor\n";
        let parsed = parse_systems(file).unwrap();
        assert_eq!(parsed.rows[0].system.name, "Größer Monitor");
    }
}
