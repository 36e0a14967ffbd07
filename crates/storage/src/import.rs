//! Importing persons and systems in bulk. Each import runs in one
//! transaction: every row is tried, every refused row is reported with its
//! reason, and the transaction commits only when no row was refused and it
//! is not a dry run. So a dry run lists exactly what the real run would
//! refuse, and a file with one bad row writes nothing.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};
use ticketwerk_domain::import::{PersonRow, RowError, SystemRow};
use ticketwerk_domain::masterdata::{SystemInput, UnitKind};
use ticketwerk_domain::{DomainError, Id};

use crate::masterdata::{Change, insert_membership, insert_person, insert_system};
use crate::{Context, Result, StorageError, Store};

/// What an import did, or would do.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportReport {
    /// Rows read from the file.
    pub rows: usize,
    /// Objects created (or, in a dry run or when refused, that would be).
    pub created: usize,
    /// Departments created along the way.
    pub units_created: usize,
    /// Every refused row and why, by line.
    pub rejected: Vec<RowError>,
    /// Whether anything was written.
    pub written: bool,
}

impl ImportReport {
    /// How many rows were refused: a row with several bad fields is one.
    pub fn refused_rows(&self) -> usize {
        distinct_lines(&self.rejected)
    }
}

/// The parser names each bad field of a row; a row counts once.
fn distinct_lines(errors: &[RowError]) -> usize {
    errors
        .iter()
        .map(|e| e.line)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// A row's failure: a field problem becomes the row's error; anything
/// else (the database failing) ends the import.
fn row_error(line: u64, e: StorageError) -> Result<RowError> {
    match e {
        StorageError::Domain(DomainError::Invalid(fields)) => {
            let f = fields
                .first()
                .map(|f| (f.field, f.code))
                .unwrap_or(("", "form.unknown_choice"));
            Ok(RowError::new(line, f.0, f.1))
        }
        other => Err(other),
    }
}

/// Business partners by customer number, looked up once per import.
struct Partners(HashMap<String, Option<Id>>);

impl Partners {
    async fn get(&mut self, tx: &mut Transaction<'_, Any>, number: &str) -> Result<Option<Id>> {
        if let Some(found) = self.0.get(number) {
            return Ok(*found);
        }
        let rows = sqlx::query(crate::persons::PARTNER_BY_NUMBER)
            .bind(number)
            .fetch_all(&mut **tx)
            .await
            .context("finding a business partner")?;
        let found = crate::persons::partner_by_number(&rows, number)?
            .map(|r| r.try_get::<Id, _>("id"))
            .transpose()
            .context("finding a business partner")?;
        self.0.insert(number.to_string(), found);
        Ok(found)
    }
}

impl Store {
    /// Imports persons, each a member of the business partner of its
    /// customer number, in the department named (created if new).
    /// `rejected` holds what the parser already refused; they count.
    pub async fn import_persons(
        &self,
        rows: &[PersonRow],
        rejected: Vec<RowError>,
        change: Change,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut report = ImportReport {
            rows: rows.len() + distinct_lines(&rejected),
            rejected,
            ..ImportReport::default()
        };
        let mut tx = self.begin_write("importing persons").await?;
        let mut partners = Partners(HashMap::new());
        let mut units: HashMap<(Id, String), Id> = HashMap::new();
        for row in rows {
            let Some(bp) = partners.get(&mut tx, &row.customer_number).await? else {
                report.rejected.push(RowError::new(
                    row.line,
                    "customer_number",
                    "import.unknown_partner",
                ));
                continue;
            };
            let unit = if row.department.is_empty() {
                None
            } else {
                let key = (bp, row.department.clone());
                match units.get(&key) {
                    Some(id) => Some(*id),
                    None => {
                        let id =
                            department(&mut tx, bp, &row.department, change, &mut report).await?;
                        units.insert(key, id);
                        Some(id)
                    }
                }
            };
            let person = match insert_person(&mut tx, &row.person, change).await {
                Ok(id) => id,
                Err(e) => {
                    report.rejected.push(row_error(row.line, e)?);
                    continue;
                }
            };
            if let Err(e) = insert_membership(&mut tx, person, bp, unit, change).await {
                report.rejected.push(row_error(row.line, e)?);
                continue;
            }
            report.created += 1;
        }
        finish(tx, report, dry_run, "importing persons").await
    }

    /// Imports systems of the business partners of their customer numbers,
    /// each optionally used by a member of that business partner.
    pub async fn import_systems(
        &self,
        rows: &[SystemRow],
        rejected: Vec<RowError>,
        change: Change,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut report = ImportReport {
            rows: rows.len() + distinct_lines(&rejected),
            rejected,
            ..ImportReport::default()
        };
        let mut tx = self.begin_write("importing systems").await?;
        let mut partners = Partners(HashMap::new());
        for row in rows {
            let Some(bp) = partners.get(&mut tx, &row.customer_number).await? else {
                report.rejected.push(RowError::new(
                    row.line,
                    "customer_number",
                    "import.unknown_partner",
                ));
                continue;
            };
            let user = match &row.user_email {
                None => None,
                Some(email) => {
                    let found = sqlx::query("SELECT id FROM persons WHERE email = $1")
                        .bind(email.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .context("finding a person")?;
                    match found {
                        Some(r) => Some(r.try_get::<Id, _>("id").context("finding a person")?),
                        None => {
                            report.rejected.push(RowError::new(
                                row.line,
                                "user_email",
                                "import.unknown_person",
                            ));
                            continue;
                        }
                    }
                }
            };
            let input = SystemInput {
                user,
                ..row.system.clone()
            };
            match insert_system(&mut tx, bp, &input, change).await {
                Ok(_) => report.created += 1,
                Err(e) => {
                    let mut error = row_error(row.line, e)?;
                    if error.field == "user_id" {
                        error.field = "user_email".to_string();
                    }
                    report.rejected.push(error);
                }
            }
        }
        finish(tx, report, dry_run, "importing systems").await
    }
}

/// The department of that name, created when missing.
async fn department(
    tx: &mut Transaction<'_, Any>,
    bp: Id,
    name: &str,
    change: Change,
    report: &mut ImportReport,
) -> Result<Id> {
    let found = sqlx::query(
        "SELECT id FROM partner_units WHERE business_partner_id = $1 AND kind = $2 AND name = $3",
    )
    .bind(bp)
    .bind(UnitKind::Department.code())
    .bind(name)
    .fetch_optional(&mut **tx)
    .await
    .context("finding a department")?;
    if let Some(row) = found {
        return row.try_get("id").context("finding a department");
    }
    report.units_created += 1;
    crate::masterdata::insert_unit(
        tx,
        bp,
        &ticketwerk_domain::masterdata::UnitInput {
            kind: UnitKind::Department,
            name: name.to_string(),
        },
        change,
    )
    .await
}

async fn finish(
    tx: Transaction<'_, Any>,
    mut report: ImportReport,
    dry_run: bool,
    context: &'static str,
) -> Result<ImportReport> {
    report.rejected.sort_by_key(|e| e.line);
    if dry_run || !report.rejected.is_empty() {
        tx.rollback().await.context(context)?;
    } else {
        tx.commit().await.context(context)?;
        report.written = true;
    }
    Ok(report)
}
