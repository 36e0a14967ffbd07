//! Persons, business partners, their services and systems, and the
//! credentials persons sign in with.

use sqlx::Row;
use sqlx::any::AnyRow;
use ticketwerk_domain::access::Membership;
use ticketwerk_domain::masterdata::{ContractInput, Period, ServiceInput, SystemInput};
use ticketwerk_domain::model::{BusinessPartner, Person, Service, System};
use ticketwerk_domain::{DomainError, Email, Id, Timestamp, Viewer};

use crate::masterdata::{Change, insert_authorisation, insert_contract, insert_membership};
use crate::{Context, Result, Store, is_unique_violation};

/// A person to create, already validated.
#[derive(Clone, Debug)]
pub struct NewPerson {
    pub email: Email,
    pub name: String,
    pub phone: String,
    pub language: String,
    pub agent: bool,
    pub password_hash: Option<String>,
}

/// What sign-in needs to know of a person.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub person: Person,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

pub(crate) const PERSON_COLUMNS: &str = "id, email, name, phone, language, is_agent, active";

pub(crate) fn person(row: &AnyRow) -> Result<Person> {
    let email: String = row.try_get("email").context("reading a person")?;
    Ok(Person {
        id: row.try_get("id").context("reading a person")?,
        email: Email::parse(&email)?,
        name: row.try_get("name").context("reading a person")?,
        phone: row.try_get("phone").context("reading a person")?,
        language: row.try_get("language").context("reading a person")?,
        agent: row
            .try_get::<i64, _>("is_agent")
            .context("reading a person")?
            != 0,
        active: row
            .try_get::<i64, _>("active")
            .context("reading a person")?
            != 0,
    })
}

pub(crate) fn business_partner(row: &AnyRow) -> Result<BusinessPartner> {
    Ok(BusinessPartner {
        id: row.try_get("id").context("reading a business partner")?,
        customer_number: row
            .try_get("customer_number")
            .context("reading a business partner")?,
        name: row.try_get("name").context("reading a business partner")?,
    })
}

/// Candidates for a customer number as typed: the exact one first, then
/// those equal but for case; [`partner_by_number`] chooses. Business
/// partners number in the hundreds, so the case-blind comparison may scan.
pub(crate) const PARTNER_BY_NUMBER: &str = "SELECT id, customer_number, name FROM business_partners \
     WHERE customer_number = $1 OR LOWER(customer_number) = LOWER($1) \
     ORDER BY CASE WHEN customer_number = $1 THEN 0 ELSE 1 END, id LIMIT 2";

/// The exact match, else the only one equal but for case.
pub(crate) fn partner_by_number<'r>(
    rows: &'r [AnyRow],
    number: &str,
) -> Result<Option<&'r AnyRow>> {
    let exact = match rows.first() {
        Some(first) => {
            let found: String = first
                .try_get("customer_number")
                .context("finding a business partner")?;
            found == number
        }
        None => false,
    };
    Ok(match rows {
        [first, ..] if exact => Some(first),
        [only] => Some(only),
        _ => None,
    })
}

impl Store {
    pub async fn create_business_partner(
        &self,
        customer_number: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<Id> {
        let result = sqlx::query(
            "INSERT INTO business_partners (customer_number, name, created_at) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(customer_number.trim())
        .bind(name.trim())
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => row.try_get("id").context("creating a business partner"),
            Err(e) if is_unique_violation(&e) => {
                Err(DomainError::invalid("customer_number", "customer_number_taken").into())
            }
            Err(e) => Err(e).context("creating a business partner"),
        }
    }

    /// The business partner of a customer number as typed: exactly, or
    /// else ignoring case when that names exactly one ("k-10001").
    pub async fn business_partner_by_number(
        &self,
        customer_number: &str,
    ) -> Result<Option<BusinessPartner>> {
        let number = customer_number.trim();
        let rows = sqlx::query(PARTNER_BY_NUMBER)
            .bind(number)
            .fetch_all(&self.pool)
            .await
            .context("finding a business partner")?;
        partner_by_number(&rows, number)?
            .map(business_partner)
            .transpose()
    }

    pub async fn create_person(&self, new: &NewPerson, now: Timestamp) -> Result<Id> {
        let result = sqlx::query(
            "INSERT INTO persons (email, name, phone, language, is_agent, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.email.as_str())
        .bind(new.name.trim())
        .bind(new.phone.trim())
        .bind(&new.language)
        .bind(i64::from(new.agent))
        .bind(new.password_hash.as_deref())
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => row.try_get("id").context("creating a person"),
            Err(e) if is_unique_violation(&e) => {
                Err(DomainError::invalid("email", "email_taken").into())
            }
            Err(e) => Err(e).context("creating a person"),
        }
    }

    /// Adds a person to a business partner; `authorised` also names them
    /// in the business partner's contract in force (one is created, open
    /// from now, when there is none). For the command line and the demo;
    /// the desk's forms use `join_partner` and `authorise`.
    pub async fn add_membership(
        &self,
        person: Id,
        business_partner: Id,
        authorised: bool,
    ) -> Result<()> {
        let now = crate::unix_now();
        let change = Change {
            actor: None,
            at: now,
        };
        let mut tx = self.begin_write("adding a membership").await?;
        insert_membership(&mut tx, person, business_partner, None, change).await?;
        if authorised {
            let current = sqlx::query(
                "SELECT id FROM contracts WHERE business_partner_id = $1 AND starts_at <= $2 \
                 AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at DESC, id DESC LIMIT 1",
            )
            .bind(business_partner)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .context("finding a contract")?;
            let contract = match current {
                Some(row) => row.try_get("id").context("finding a contract")?,
                None => {
                    let input = ContractInput {
                        name: "Rahmenvertrag".to_string(),
                        period: Period::new(now, None)?,
                    };
                    insert_contract(&mut tx, business_partner, &input, change).await?
                }
            };
            insert_authorisation(&mut tx, contract, person, Period::new(now, None)?, change)
                .await?;
        }
        tx.commit().await.context("adding a membership")?;
        Ok(())
    }

    pub async fn person(&self, id: Id) -> Result<Option<Person>> {
        sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM persons WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a person")?
        .as_ref()
        .map(person)
        .transpose()
    }

    pub async fn credentials(&self, email: &Email) -> Result<Option<Credentials>> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS}, password_hash, totp_secret, totp_last_step \
             FROM persons WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("reading credentials")?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Credentials {
            person: person(&row)?,
            password_hash: row
                .try_get("password_hash")
                .context("reading credentials")?,
            totp_secret: row.try_get("totp_secret").context("reading credentials")?,
            totp_last_step: row
                .try_get("totp_last_step")
                .context("reading credentials")?,
        }))
    }

    pub async fn credentials_by_id(&self, id: Id) -> Result<Option<Credentials>> {
        match self.person(id).await? {
            Some(p) => self.credentials(&p.email).await,
            None => Ok(None),
        }
    }

    pub async fn set_password(&self, person: Id, password_hash: &str) -> Result<()> {
        sqlx::query("UPDATE persons SET password_hash = $2 WHERE id = $1")
            .bind(person)
            .bind(password_hash)
            .execute(&self.pool)
            .await
            .context("setting a password")?;
        Ok(())
    }

    /// The person's authority now: agent or not, and the business partners
    /// they belong to, with authorisation.
    pub async fn viewer(&self, person: Id) -> Result<Option<Viewer>> {
        self.viewer_at(person, crate::unix_now()).await
    }

    /// The person's authority at a moment: authorised for a business
    /// partner while they are a member and named in one of its contracts
    /// by an authorisation in force, in a contract in force.
    pub async fn viewer_at(&self, person: Id, now: Timestamp) -> Result<Option<Viewer>> {
        Ok(self
            .viewer_and_person(person, now)
            .await?
            .map(|(viewer, _, _)| viewer))
    }

    /// The person, their authority and their business partners (by name),
    /// for a signed-in request; `None` when the person does not exist or
    /// is no longer active.
    pub async fn viewer_and_person(
        &self,
        person: Id,
        now: Timestamp,
    ) -> Result<Option<(Viewer, Person, Vec<BusinessPartner>)>> {
        let Some(p) = self.person(person).await? else {
            return Ok(None);
        };
        if !p.active {
            return Ok(None);
        }
        let found = self.memberships_of(person, now).await?;
        let memberships = found
            .iter()
            .map(|m| Membership {
                business_partner: m.business_partner.id,
                authorised: m.authorised,
            })
            .collect();
        let partners = found.into_iter().map(|m| m.business_partner).collect();
        let viewer = Viewer {
            person,
            agent: p.agent,
            memberships,
        };
        Ok(Some((viewer, p, partners)))
    }

    /// The business partners a person belongs to, by name.
    pub async fn business_partners_of(&self, person: Id) -> Result<Vec<BusinessPartner>> {
        let rows = sqlx::query(
            "SELECT b.id, b.customer_number, b.name FROM business_partners b \
             JOIN memberships m ON m.business_partner_id = b.id WHERE m.person_id = $1 \
             ORDER BY b.name, b.id",
        )
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .context("listing business partners")?;
        rows.iter().map(business_partner).collect()
    }

    pub async fn is_member(&self, person: Id, business_partner: Id) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM memberships WHERE person_id = $1 AND business_partner_id = $2",
        )
        .bind(person)
        .bind(business_partner)
        .fetch_optional(&self.pool)
        .await
        .context("checking a membership")?;
        Ok(row.is_some())
    }

    /// Books a service for a business partner, logged as a change of no
    /// one (the command line, the demo).
    pub async fn create_service(
        &self,
        business_partner: Id,
        name: &str,
        description: &str,
    ) -> Result<Id> {
        let input = ServiceInput::parse(name, description, true)?;
        let change = Change {
            actor: None,
            at: crate::unix_now(),
        };
        self.add_service(business_partner, &input, change).await
    }

    /// The services of a business partner in use, by name.
    pub async fn services_of(&self, business_partner: Id) -> Result<Vec<Service>> {
        self.services_of_partners(&[business_partner], false).await
    }

    /// Registers a system for a business partner, logged as a change of
    /// no one (the command line, the demo).
    pub async fn create_system(
        &self,
        business_partner: Id,
        kind: &str,
        name: &str,
        inventory_number: &str,
        person: Option<Id>,
    ) -> Result<Id> {
        let input = SystemInput::parse(kind, name, inventory_number, person, true)?;
        let change = Change {
            actor: None,
            at: crate::unix_now(),
        };
        self.add_system(business_partner, &input, change).await
    }

    /// The systems of a business partner in use, by name.
    pub async fn systems_of(&self, business_partner: Id) -> Result<Vec<System>> {
        let rows = sqlx::query(&format!(
            "{} WHERE s.business_partner_id = $1 AND s.active = 1 ORDER BY s.name, s.id",
            crate::masterdata::SYSTEM_SELECT
        ))
        .bind(business_partner)
        .fetch_all(&self.pool)
        .await
        .context("listing systems")?;
        rows.iter().map(crate::masterdata::system).collect()
    }
}
