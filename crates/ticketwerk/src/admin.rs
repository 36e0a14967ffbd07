//! Administration from the command line: the first agents, business
//! partners and persons, before anyone can sign in to the desk. Each
//! function checks its input, writes through the storage API, records an
//! audit event and answers with a message a person can act on.

use anyhow::{Context, bail};
use ticketwerk_domain::auth::{MIN_PASSWORD_LEN, hash_password};
use ticketwerk_domain::import::{ImportKind, RowError, parse_persons, parse_systems};
use ticketwerk_domain::{DomainError, Email, Id, Timestamp};
use ticketwerk_storage::{Change, ImportReport, NewPerson, StorageError, Store};

pub use ticketwerk_domain::auth::{GENERATED_PASSWORD_LEN, generate_password};

/// A password and whether it was generated (and so must be shown once).
#[derive(Debug)]
pub struct Password {
    pub value: String,
    pub generated: bool,
}

/// The password from the environment variable `var`, or a generated one.
/// Passing the name of a variable rather than the password keeps it out of
/// the shell history and the process list.
pub fn password_from_env(var: Option<&str>) -> anyhow::Result<Password> {
    let Some(var) = var else {
        return Ok(Password {
            value: generate_password(),
            generated: true,
        });
    };
    let value = std::env::var(var)
        .with_context(|| format!("the environment variable {var} (--password-env) is not set"))?;
    if value.chars().count() < MIN_PASSWORD_LEN {
        bail!("the password in {var} is too short: at least {MIN_PASSWORD_LEN} characters");
    }
    Ok(Password {
        value,
        generated: false,
    })
}

/// A person to create from the command line.
#[derive(Clone, Debug)]
pub struct PersonSpec {
    pub email: String,
    pub name: String,
    pub phone: String,
    /// `de` or `en`.
    pub language: String,
    pub agent: bool,
    /// Customer number and whether the person is authorised there.
    pub business_partner: Option<(String, bool)>,
}

/// What was created, for the confirmation message.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: Id,
    pub email: Email,
}

pub async fn create_business_partner(
    store: &Store,
    customer_number: &str,
    name: &str,
    now: Timestamp,
) -> anyhow::Result<Id> {
    let (customer_number, name) = (customer_number.trim(), name.trim());
    if customer_number.is_empty() {
        bail!("the customer number must not be empty");
    }
    if name.is_empty() {
        bail!("the name must not be empty");
    }
    let id = store
        .create_business_partner(customer_number, name, now)
        .await
        .map_err(|e| {
            if is_invalid(&e, "customer_number_taken") {
                anyhow::anyhow!(
                    "a business partner with customer number {customer_number} already exists"
                )
            } else {
                anyhow::Error::new(e).context("cannot create the business partner")
            }
        })?;
    store
        .audit(
            now,
            None,
            "cli.create_business_partner",
            &format!("{customer_number} {name}"),
        )
        .await?;
    Ok(id)
}

/// Creates a person (an agent or a member of one business partner) with a
/// password. The business partner is looked up first, so an unknown
/// customer number leaves nothing behind.
pub async fn create_person(
    store: &Store,
    spec: &PersonSpec,
    password: &str,
    now: Timestamp,
) -> anyhow::Result<Created> {
    let email = Email::parse(&spec.email)
        .map_err(|_| anyhow::anyhow!("{:?} is not a valid email address", spec.email))?;
    if spec.name.trim().is_empty() {
        bail!("the name must not be empty");
    }
    if !matches!(spec.language.as_str(), "de" | "en") {
        bail!("the language must be de or en, not {:?}", spec.language);
    }
    let partner = match &spec.business_partner {
        Some((number, authorised)) => {
            let partner = store
                .business_partner_by_number(number)
                .await?
                .with_context(|| {
                    format!(
                        "there is no business partner with customer number {}",
                        number.trim()
                    )
                })?;
            Some((partner, *authorised))
        }
        None => None,
    };
    let password_hash = hash_password(password).map_err(|_| {
        anyhow::anyhow!("the password is too short: at least {MIN_PASSWORD_LEN} characters")
    })?;
    let new = NewPerson {
        email: email.clone(),
        name: spec.name.trim().to_string(),
        phone: spec.phone.trim().to_string(),
        language: spec.language.clone(),
        agent: spec.agent,
        password_hash: Some(password_hash),
    };
    let id = store.create_person(&new, now).await.map_err(|e| {
        if is_invalid(&e, "email_taken") {
            anyhow::anyhow!("a person with the email address {email} already exists")
        } else {
            anyhow::Error::new(e).context("cannot create the person")
        }
    })?;
    if let Some((partner, authorised)) = &partner {
        store
            .add_membership(id, partner.id, *authorised)
            .await
            .context("cannot add the person to the business partner")?;
    }
    let event = if spec.agent {
        "cli.create_agent"
    } else {
        "cli.create_person"
    };
    let detail = match &partner {
        Some((p, authorised)) => format!("{email} {} authorised={authorised}", p.customer_number),
        None => email.to_string(),
    };
    store.audit(now, Some(id), event, &detail).await?;
    Ok(Created { id, email })
}

/// Whether storage refused a write for this validation code.
fn is_invalid(e: &StorageError, code: &str) -> bool {
    matches!(e, StorageError::Domain(DomainError::Invalid(fields))
        if fields.iter().any(|f| f.code == code))
}

/// Imports a CSV file of persons or systems; see `Store::import_persons`.
/// A file that cannot be read as a whole answers one error at line 0 or 1.
pub async fn import(
    store: &Store,
    kind: ImportKind,
    bytes: &[u8],
    dry_run: bool,
    now: Timestamp,
) -> anyhow::Result<ImportReport> {
    let change = Change {
        actor: None,
        at: now,
    };
    let report = match kind {
        ImportKind::Persons => match parse_persons(bytes) {
            Ok(parsed) => {
                store
                    .import_persons(&parsed.rows, parsed.errors, change, dry_run)
                    .await?
            }
            Err(e) => refused_file(e),
        },
        ImportKind::Systems => match parse_systems(bytes) {
            Ok(parsed) => {
                store
                    .import_systems(&parsed.rows, parsed.errors, change, dry_run)
                    .await?
            }
            Err(e) => refused_file(e),
        },
    };
    store
        .audit(
            now,
            None,
            "master_data_imported",
            &format!(
                "kind={} rows={} created={} rejected={} written={}",
                kind.code(),
                report.rows,
                report.created,
                report.refused_rows(),
                report.written
            ),
        )
        .await?;
    Ok(report)
}

fn refused_file(e: RowError) -> ImportReport {
    ImportReport {
        rejected: vec![e],
        ..ImportReport::default()
    }
}
