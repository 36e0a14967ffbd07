//! Master data the desk keeps: business partners and their departments
//! and locations, persons and memberships, contracts and authorisations,
//! services and systems. Every change is written with a change-log entry
//! in the same transaction; who may make it is the web layer's question
//! to `access`, what a valid value is the domain's (`masterdata`).

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use ticketwerk_domain::masterdata::{
    ContractInput, FieldChange, PartnerInput, Period, PersonInput, ServiceInput, SystemInput,
    UnitInput, diff,
};
use ticketwerk_domain::model::{
    Authorisation, BusinessPartner, ChangeEntry, Contract, Member, MembershipView, PartnerUnit,
    Person, PickItem, Service, System,
};
use ticketwerk_domain::{DomainError, Id, Timestamp};

use crate::tickets::{Arg, Sql, case_folds, like_pattern, push_like};
use crate::{Context, Result, Store, code, is_unique_violation};

/// Who makes a change, and when.
#[derive(Clone, Copy, Debug)]
pub struct Change {
    pub actor: Option<Id>,
    pub at: Timestamp,
}

/// A page of a desk list, with the cursor of the next page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NamedPage<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// What the change log records of one change.
struct Logged<'a> {
    partner: Option<Id>,
    kind: &'a str,
    id: Id,
    action: &'a str,
    changes: Vec<FieldChange>,
}

async fn log(conn: &mut AnyConnection, change: Change, entry: Logged<'_>) -> Result<()> {
    let changes = serde_json::to_string(&entry.changes).unwrap_or_else(|_| "[]".to_string());
    sqlx::query(
        "INSERT INTO change_log (at, actor_id, business_partner_id, object_kind, object_id, \
         action, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change.at)
    .bind(change.actor)
    .bind(entry.partner)
    .bind(entry.kind)
    .bind(entry.id)
    .bind(entry.action)
    .bind(changes)
    .execute(conn)
    .await
    .context("writing the change log")?;
    Ok(())
}

/// Logs a change of an object's fields, if any field changed.
async fn log_changed(
    conn: &mut AnyConnection,
    change: Change,
    partner: Option<Id>,
    kind: &str,
    id: Id,
    changes: Vec<FieldChange>,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let entry = Logged {
        partner,
        kind,
        id,
        action: "changed",
        changes,
    };
    log(conn, change, entry).await
}

fn created(fields: &[(&str, String)]) -> Vec<FieldChange> {
    diff(&[], fields)
}

fn flag(v: bool) -> String {
    if v { "1" } else { "0" }.to_string()
}

fn period_fields(p: &Period) -> [(&'static str, String); 2] {
    [
        ("starts_at", p.starts_at.to_string()),
        (
            "ends_at",
            p.ends_at.map(|e| e.to_string()).unwrap_or_default(),
        ),
    ]
}

use crate::persons::business_partner as bp;

fn service(r: &AnyRow) -> Result<Service> {
    let c = "reading a service";
    Ok(Service {
        id: r.try_get("id").context(c)?,
        business_partner_id: r.try_get("business_partner_id").context(c)?,
        name: r.try_get("name").context(c)?,
        description: r.try_get("description").context(c)?,
        active: r.try_get::<i64, _>("active").context(c)? != 0,
    })
}

pub(crate) const SYSTEM_SELECT: &str = "SELECT s.id, s.business_partner_id, s.kind, s.name, \
     s.inventory_number, s.person_id, p.name AS user_name, s.active \
     FROM systems s LEFT JOIN persons p ON p.id = s.person_id";

pub(crate) fn system(r: &AnyRow) -> Result<System> {
    let c = "reading a system";
    Ok(System {
        id: r.try_get("id").context(c)?,
        business_partner_id: r.try_get("business_partner_id").context(c)?,
        kind: code(r, "kind")?,
        name: r.try_get("name").context(c)?,
        inventory_number: r.try_get("inventory_number").context(c)?,
        user_id: r.try_get("person_id").context(c)?,
        user_name: r.try_get("user_name").context(c)?,
        active: r.try_get::<i64, _>("active").context(c)? != 0,
    })
}

fn unit(r: &AnyRow) -> Result<PartnerUnit> {
    let c = "reading a department or location";
    Ok(PartnerUnit {
        id: r.try_get("id").context(c)?,
        business_partner_id: r.try_get("business_partner_id").context(c)?,
        kind: code(r, "kind")?,
        name: r.try_get("name").context(c)?,
    })
}

fn period(r: &AnyRow, prefix: &str) -> Result<Period> {
    let c = "reading a period";
    Ok(Period {
        starts_at: r
            .try_get(format!("{prefix}starts_at").as_str())
            .context(c)?,
        ends_at: r.try_get(format!("{prefix}ends_at").as_str()).context(c)?,
    })
}

/// SQL: is an authorisation `a` of contract `c` in force at `$n`?
fn in_force_sql(n: usize) -> String {
    format!(
        "(a.starts_at <= ${n} AND (a.ends_at IS NULL OR a.ends_at > ${n}) \
         AND c.starts_at <= ${n} AND (c.ends_at IS NULL OR c.ends_at > ${n}))"
    )
}

/// A keyset cursor over (name, id).
fn name_cursor(name: &str, id: Id) -> String {
    format!("{id}.{name}")
}

fn parse_name_cursor(cursor: &str) -> Option<(Id, String)> {
    let (id, name) = cursor.split_once('.')?;
    Some((id.parse().ok()?, name.to_string()))
}

/// `(LOWER(a) LIKE p OR LOWER(b) LIKE p …)` for a search term.
fn push_search(sql: &mut Sql, columns: &[&str], term: &str) {
    let lowered = term.to_lowercase();
    let pattern = like_pattern(&lowered);
    let folds = case_folds(&lowered);
    sql.push(" AND (");
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        push_like(sql, column, &pattern, &folds);
    }
    sql.push(")");
}

/// Reads a row to change inside the changing transaction, after taking
/// its write lock (a write to the row itself: on PostgreSQL the row lock,
/// on SQLite the database's), so that the "before" of the change log is
/// what the change replaces even when two agents save at once.
async fn locked(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    columns: &str,
    id: Id,
) -> Result<AnyRow> {
    sqlx::query(&format!("UPDATE {table} SET id = id WHERE id = $1"))
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("locking a row")?;
    sqlx::query(&format!("SELECT {columns} FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .context("reading a row to change")?
        .ok_or_else(|| DomainError::NotFound.into())
}

/// The person must belong to the business partner (a system's user, an
/// authorisation): checked in the writing transaction.
async fn check_member(
    tx: &mut Transaction<'_, Any>,
    field: &'static str,
    person: Id,
    business_partner: Id,
) -> Result<()> {
    let found = sqlx::query(
        "SELECT 1 AS one FROM memberships WHERE person_id = $1 AND business_partner_id = $2",
    )
    .bind(person)
    .bind(business_partner)
    .fetch_optional(&mut **tx)
    .await
    .context("checking a membership")?;
    if found.is_none() {
        return Err(DomainError::invalid(field, "form.not_a_member").into());
    }
    Ok(())
}

impl Store {
    // ---- Business partners -------------------------------------------

    /// The desk's list of business partners by name, searchable by name
    /// and customer number, in pages.
    pub async fn list_partners(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<NamedPage<BusinessPartner>> {
        let mut sql = Sql::default();
        sql.push("SELECT id, customer_number, name FROM business_partners WHERE 1 = 1");
        if let Some(term) = search {
            push_search(&mut sql, &["name", "customer_number"], term);
        }
        if let Some((id, name)) = after.and_then(parse_name_cursor) {
            sql.push(" AND (name > ")
                .bind(Arg::Text(name.clone()))
                .push(" OR (name = ")
                .bind(Arg::Text(name))
                .push(" AND id > ")
                .bind(Arg::Int(id))
                .push("))");
        }
        sql.push(" ORDER BY name, id LIMIT ")
            .bind(Arg::Int(limit + 1));
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("listing business partners")?;
        let mut items = rows.iter().map(bp).collect::<Result<Vec<_>>>()?;
        let next = (items.len() as i64 > limit).then(|| {
            items.truncate(limit as usize);
            items
                .last()
                .map(|b| name_cursor(&b.name, b.id))
                .unwrap_or_default()
        });
        Ok(NamedPage { items, next })
    }

    pub async fn partner(&self, id: Id) -> Result<Option<BusinessPartner>> {
        sqlx::query("SELECT id, customer_number, name FROM business_partners WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a business partner")?
            .as_ref()
            .map(bp)
            .transpose()
    }

    pub async fn add_partner(&self, input: &PartnerInput, change: Change) -> Result<Id> {
        let mut tx = self.begin_write("creating a business partner").await?;
        let row = sqlx::query(
            "INSERT INTO business_partners (customer_number, name, created_at) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(&input.customer_number)
        .bind(&input.name)
        .bind(change.at)
        .fetch_one(&mut *tx)
        .await;
        let id: Id = match row {
            Ok(row) => row.try_get("id").context("creating a business partner")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(
                    DomainError::invalid("customer_number", "form.customer_number_taken").into(),
                );
            }
            Err(e) => return Err(e).context("creating a business partner"),
        };
        let fields = [
            ("customer_number", input.customer_number.clone()),
            ("name", input.name.clone()),
        ];
        log(
            &mut tx,
            change,
            Logged {
                partner: Some(id),
                kind: "business_partner",
                id,
                action: "created",
                changes: created(&fields),
            },
        )
        .await?;
        tx.commit().await.context("creating a business partner")?;
        Ok(id)
    }

    pub async fn update_partner(&self, id: Id, input: &PartnerInput, change: Change) -> Result<()> {
        let mut tx = self.begin_write("changing a business partner").await?;
        let row = locked(
            &mut tx,
            "business_partners",
            "id, customer_number, name",
            id,
        )
        .await?;
        let before = bp(&row)?;
        let result = sqlx::query(
            "UPDATE business_partners SET customer_number = $2, name = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(&input.customer_number)
        .bind(&input.name)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(
                    DomainError::invalid("customer_number", "form.customer_number_taken").into(),
                );
            }
            Err(e) => return Err(e).context("changing a business partner"),
        }
        let changes = diff(
            &[
                ("customer_number", before.customer_number),
                ("name", before.name),
            ],
            &[
                ("customer_number", input.customer_number.clone()),
                ("name", input.name.clone()),
            ],
        );
        log_changed(&mut tx, change, Some(id), "business_partner", id, changes).await?;
        tx.commit().await.context("changing a business partner")?;
        Ok(())
    }

    pub async fn units_of(&self, business_partner: Id) -> Result<Vec<PartnerUnit>> {
        let rows = sqlx::query(
            "SELECT id, business_partner_id, kind, name FROM partner_units \
             WHERE business_partner_id = $1 ORDER BY kind, name, id",
        )
        .bind(business_partner)
        .fetch_all(&self.pool)
        .await
        .context("listing departments and locations")?;
        rows.iter().map(unit).collect()
    }

    pub async fn add_unit(
        &self,
        business_partner: Id,
        input: &UnitInput,
        change: Change,
    ) -> Result<Id> {
        let mut tx = self.begin_write("adding a department").await?;
        let id = insert_unit(&mut tx, business_partner, input, change).await?;
        tx.commit().await.context("adding a department")?;
        Ok(id)
    }

    /// Removes a department or location; memberships in it keep the
    /// business partner and lose the unit.
    pub async fn remove_unit(
        &self,
        business_partner: Id,
        unit_id: Id,
        change: Change,
    ) -> Result<()> {
        let mut tx = self.begin_write("removing a department").await?;
        let row = sqlx::query(
            "SELECT id, business_partner_id, kind, name FROM partner_units \
             WHERE id = $1 AND business_partner_id = $2",
        )
        .bind(unit_id)
        .bind(business_partner)
        .fetch_optional(&mut *tx)
        .await
        .context("removing a department")?
        .ok_or(DomainError::NotFound)?;
        let removed = unit(&row)?;
        sqlx::query("UPDATE memberships SET unit_id = NULL WHERE unit_id = $1")
            .bind(unit_id)
            .execute(&mut *tx)
            .await
            .context("removing a department")?;
        sqlx::query("DELETE FROM partner_units WHERE id = $1")
            .bind(unit_id)
            .execute(&mut *tx)
            .await
            .context("removing a department")?;
        log(
            &mut tx,
            change,
            Logged {
                partner: Some(business_partner),
                kind: "unit",
                id: unit_id,
                action: "removed",
                changes: diff(&[("name", removed.name)], &[("name", String::new())]),
            },
        )
        .await?;
        tx.commit().await.context("removing a department")?;
        Ok(())
    }

    // ---- Persons and memberships -------------------------------------

    /// The desk's list of persons by name, searchable by name and address.
    pub async fn list_persons(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<NamedPage<Person>> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT id, email, name, phone, language, is_agent, active FROM persons WHERE 1 = 1",
        );
        if let Some(term) = search {
            push_search(&mut sql, &["name", "email"], term);
        }
        if let Some((id, name)) = after.and_then(parse_name_cursor) {
            sql.push(" AND (name > ")
                .bind(Arg::Text(name.clone()))
                .push(" OR (name = ")
                .bind(Arg::Text(name))
                .push(" AND id > ")
                .bind(Arg::Int(id))
                .push("))");
        }
        sql.push(" ORDER BY name, id LIMIT ")
            .bind(Arg::Int(limit + 1));
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("listing persons")?;
        let mut items = rows
            .iter()
            .map(crate::persons::person)
            .collect::<Result<Vec<_>>>()?;
        let next = (items.len() as i64 > limit).then(|| {
            items.truncate(limit as usize);
            items
                .last()
                .map(|p| name_cursor(&p.name, p.id))
                .unwrap_or_default()
        });
        Ok(NamedPage { items, next })
    }

    /// Creates a customer person (no password: the desk sets an initial
    /// one when the person is to sign in).
    pub async fn add_person(&self, input: &PersonInput, change: Change) -> Result<Id> {
        let mut tx = self.begin_write("creating a person").await?;
        let id = insert_person(&mut tx, input, change).await?;
        tx.commit().await.context("creating a person")?;
        Ok(id)
    }

    pub async fn update_person(
        &self,
        id: Id,
        input: &PersonInput,
        active: bool,
        change: Change,
    ) -> Result<()> {
        let mut tx = self.begin_write("changing a person").await?;
        let row = locked(&mut tx, "persons", crate::persons::PERSON_COLUMNS, id).await?;
        let before = crate::persons::person(&row)?;
        let result = sqlx::query(
            "UPDATE persons SET name = $2, email = $3, phone = $4, language = $5, active = $6 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&input.name)
        .bind(input.email.as_str())
        .bind(&input.phone)
        .bind(input.language.code())
        .bind(i64::from(active))
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::invalid("email", "form.email_taken").into());
            }
            Err(e) => return Err(e).context("changing a person"),
        }
        if !active {
            sqlx::query("DELETE FROM sessions WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("ending the sessions of a person")?;
        }
        let changes = diff(
            &[
                ("name", before.name),
                ("email", before.email.to_string()),
                ("phone", before.phone),
                ("language", before.language),
                ("active", flag(before.active)),
            ],
            &[
                ("name", input.name.clone()),
                ("email", input.email.to_string()),
                ("phone", input.phone.clone()),
                ("language", input.language.code().to_string()),
                ("active", flag(active)),
            ],
        );
        log_changed(&mut tx, change, None, "person", id, changes).await?;
        tx.commit().await.context("changing a person")?;
        Ok(())
    }

    /// Sets a person's initial password (already hashed) and withdraws
    /// their second factor and sessions, so that they enrol anew.
    pub async fn reset_sign_in(&self, id: Id, password_hash: &str, change: Change) -> Result<()> {
        let mut tx = self.begin_write("resetting a sign-in").await?;
        let done = sqlx::query(
            "UPDATE persons SET password_hash = $2, totp_secret = NULL, \
             totp_last_step = NULL WHERE id = $1 AND is_agent = 0",
        )
        .bind(id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await
        .context("resetting a sign-in")?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound.into());
        }
        for statement in [
            "DELETE FROM sessions WHERE person_id = $1",
            "DELETE FROM recovery_codes WHERE person_id = $1",
            // Starting over means every second factor: a lost phone may
            // have held the passkeys too.
            "DELETE FROM passkeys WHERE person_id = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("resetting a sign-in")?;
        }
        log(
            &mut tx,
            change,
            Logged {
                partner: None,
                kind: "person",
                id,
                action: "sign_in_reset",
                changes: Vec::new(),
            },
        )
        .await?;
        tx.commit().await.context("resetting a sign-in")?;
        Ok(())
    }

    /// A person's memberships, with department and authorisation at `now`.
    pub async fn memberships_of(&self, person: Id, now: Timestamp) -> Result<Vec<MembershipView>> {
        let rows = sqlx::query(&format!(
            "SELECT b.id, b.customer_number, b.name, m.unit_id, u.name AS unit_name, \
             CASE WHEN EXISTS (SELECT 1 FROM authorisations a JOIN contracts c ON c.id = a.contract_id \
               WHERE a.person_id = m.person_id AND c.business_partner_id = m.business_partner_id \
               AND {}) THEN 1 ELSE 0 END AS authorised \
             FROM memberships m JOIN business_partners b ON b.id = m.business_partner_id \
             LEFT JOIN partner_units u ON u.id = m.unit_id \
             WHERE m.person_id = $1 ORDER BY b.name, b.id",
            in_force_sql(2)
        ))
        .bind(person)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("listing memberships")?;
        rows.iter()
            .map(|r| {
                let c = "reading a membership";
                Ok(MembershipView {
                    business_partner: bp(r)?,
                    unit_id: r.try_get("unit_id").context(c)?,
                    unit_name: r.try_get("unit_name").context(c)?,
                    authorised: int(r, "authorised")? != 0,
                })
            })
            .collect()
    }

    /// The members of a business partner, with department and whether
    /// they are authorised at `now`.
    pub async fn members_of(&self, business_partner: Id, now: Timestamp) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT p.id, p.email, p.name, p.phone, p.language, p.is_agent, p.active, \
             u.name AS unit_name, \
             CASE WHEN EXISTS (SELECT 1 FROM authorisations a JOIN contracts c ON c.id = a.contract_id \
               WHERE a.person_id = m.person_id AND c.business_partner_id = m.business_partner_id \
               AND {}) THEN 1 ELSE 0 END AS authorised \
             FROM memberships m JOIN persons p ON p.id = m.person_id \
             LEFT JOIN partner_units u ON u.id = m.unit_id \
             WHERE m.business_partner_id = $1 ORDER BY p.name, p.id",
            in_force_sql(2)
        ))
        .bind(business_partner)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("listing members")?;
        rows.iter()
            .map(|r| {
                let c = "reading a member";
                Ok(Member {
                    person: crate::persons::person(r)?,
                    unit_name: r.try_get("unit_name").context(c)?,
                    authorised: int(r, "authorised")? != 0,
                })
            })
            .collect()
    }

    /// Adds a person to a business partner, optionally in a department or
    /// location of it.
    pub async fn join_partner(
        &self,
        person: Id,
        business_partner: Id,
        unit_id: Option<Id>,
        change: Change,
    ) -> Result<()> {
        let mut tx = self.begin_write("adding a membership").await?;
        insert_membership(&mut tx, person, business_partner, unit_id, change).await?;
        tx.commit().await.context("adding a membership")?;
        Ok(())
    }

    /// Removes a person from a business partner. Their authorisations in
    /// its contracts end now, and systems of it no longer name them.
    pub async fn leave_partner(
        &self,
        person: Id,
        business_partner: Id,
        change: Change,
    ) -> Result<()> {
        let mut tx = self.begin_write("removing a membership").await?;
        let done = sqlx::query(
            "DELETE FROM memberships WHERE person_id = $1 AND business_partner_id = $2",
        )
        .bind(person)
        .bind(business_partner)
        .execute(&mut *tx)
        .await
        .context("removing a membership")?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound.into());
        }
        // Authorisations not yet begun never were in force: they go; the
        // others end now.
        sqlx::query(
            "DELETE FROM authorisations WHERE person_id = $1 AND starts_at >= $3 \
             AND contract_id IN (SELECT id FROM contracts WHERE business_partner_id = $2)",
        )
        .bind(person)
        .bind(business_partner)
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .context("ending authorisations")?;
        sqlx::query(
            "UPDATE authorisations SET ends_at = $3 WHERE person_id = $1 \
             AND (ends_at IS NULL OR ends_at > $3) \
             AND contract_id IN (SELECT id FROM contracts WHERE business_partner_id = $2)",
        )
        .bind(person)
        .bind(business_partner)
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .context("ending authorisations")?;
        sqlx::query(
            "UPDATE systems SET person_id = NULL WHERE person_id = $1 AND business_partner_id = $2",
        )
        .bind(person)
        .bind(business_partner)
        .execute(&mut *tx)
        .await
        .context("releasing systems")?;
        log(
            &mut tx,
            change,
            Logged {
                partner: Some(business_partner),
                kind: "membership",
                id: person,
                action: "removed",
                changes: Vec::new(),
            },
        )
        .await?;
        tx.commit().await.context("removing a membership")?;
        Ok(())
    }

    // ---- Contracts and authorisations ----------------------------------

    /// A business partner's contracts, newest first, each with the persons
    /// it authorises; `in_force` as of `now`.
    pub async fn contracts_of(
        &self,
        business_partner: Id,
        now: Timestamp,
    ) -> Result<Vec<Contract>> {
        let rows = sqlx::query(
            "SELECT id, business_partner_id, name, starts_at, ends_at FROM contracts \
             WHERE business_partner_id = $1 ORDER BY starts_at DESC, id DESC",
        )
        .bind(business_partner)
        .fetch_all(&self.pool)
        .await
        .context("listing contracts")?;
        let mut contracts = rows
            .iter()
            .map(|r| contract(r, now))
            .collect::<Result<Vec<_>>>()?;
        let auth_rows = sqlx::query(
            "SELECT a.id, a.contract_id, a.person_id, p.name AS person_name, p.email AS person_email, \
             a.starts_at, a.ends_at FROM authorisations a \
             JOIN contracts c ON c.id = a.contract_id JOIN persons p ON p.id = a.person_id \
             WHERE c.business_partner_id = $1 ORDER BY p.name, a.id",
        )
        .bind(business_partner)
        .fetch_all(&self.pool)
        .await
        .context("listing authorisations")?;
        for r in &auth_rows {
            let a = authorisation(r)?;
            if let Some(c) = contracts.iter_mut().find(|c| c.id == a.contract_id) {
                let in_force = c.in_force && a.period.in_force(now);
                c.authorisations.push(Authorisation { in_force, ..a });
            }
        }
        Ok(contracts)
    }

    pub async fn contract(&self, id: Id, now: Timestamp) -> Result<Option<Contract>> {
        let Some(partner) = sqlx::query("SELECT business_partner_id FROM contracts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a contract")?
        else {
            return Ok(None);
        };
        let partner: Id = partner
            .try_get("business_partner_id")
            .context("reading a contract")?;
        Ok(self
            .contracts_of(partner, now)
            .await?
            .into_iter()
            .find(|c| c.id == id))
    }

    pub async fn add_contract(
        &self,
        business_partner: Id,
        input: &ContractInput,
        change: Change,
    ) -> Result<Id> {
        let mut tx = self.begin_write("creating a contract").await?;
        let id = insert_contract(&mut tx, business_partner, input, change).await?;
        tx.commit().await.context("creating a contract")?;
        Ok(id)
    }

    pub async fn update_contract(
        &self,
        id: Id,
        input: &ContractInput,
        change: Change,
    ) -> Result<()> {
        let before = self
            .contract(id, change.at)
            .await?
            .ok_or(DomainError::NotFound)?;
        let mut tx = self.begin_write("changing a contract").await?;
        sqlx::query("UPDATE contracts SET name = $2, starts_at = $3, ends_at = $4 WHERE id = $1")
            .bind(id)
            .bind(&input.name)
            .bind(input.period.starts_at)
            .bind(input.period.ends_at)
            .execute(&mut *tx)
            .await
            .context("changing a contract")?;
        let mut old = vec![("name", before.name)];
        old.extend(period_fields(&before.period));
        let mut new = vec![("name", input.name.clone())];
        new.extend(period_fields(&input.period));
        let changes = diff(&old, &new);
        log_changed(
            &mut tx,
            change,
            Some(before.business_partner_id),
            "contract",
            id,
            changes,
        )
        .await?;
        tx.commit().await.context("changing a contract")?;
        Ok(())
    }

    /// Names a member of the contract's business partner as authorised
    /// for a period.
    pub async fn authorise(
        &self,
        contract_id: Id,
        person: Id,
        period: Period,
        change: Change,
    ) -> Result<Id> {
        let mut tx = self.begin_write("authorising a person").await?;
        let id = insert_authorisation(&mut tx, contract_id, person, period, change).await?;
        tx.commit().await.context("authorising a person")?;
        Ok(id)
    }

    /// Changes the period of an authorisation; `None` for the end makes it
    /// open-ended. Returns the contract it belongs to.
    pub async fn update_authorisation(&self, id: Id, period: Period, change: Change) -> Result<Id> {
        let mut tx = self.begin_write("changing an authorisation").await?;
        let row = sqlx::query(
            "SELECT a.contract_id, a.starts_at, a.ends_at, c.business_partner_id \
             FROM authorisations a JOIN contracts c ON c.id = a.contract_id WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("changing an authorisation")?
        .ok_or(DomainError::NotFound)?;
        let before = period_of(&row)?;
        let contract_id: Id = row
            .try_get("contract_id")
            .context("changing an authorisation")?;
        let partner: Id = row
            .try_get("business_partner_id")
            .context("changing an authorisation")?;
        sqlx::query("UPDATE authorisations SET starts_at = $2, ends_at = $3 WHERE id = $1")
            .bind(id)
            .bind(period.starts_at)
            .bind(period.ends_at)
            .execute(&mut *tx)
            .await
            .context("changing an authorisation")?;
        let changes = diff(&period_fields(&before), &period_fields(&period));
        log_changed(&mut tx, change, Some(partner), "authorisation", id, changes).await?;
        tx.commit().await.context("changing an authorisation")?;
        Ok(contract_id)
    }

    /// The contract an authorisation belongs to.
    pub async fn contract_of_authorisation(&self, id: Id) -> Result<Option<Id>> {
        sqlx::query("SELECT contract_id FROM authorisations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an authorisation")?
            .map(|r| r.try_get("contract_id"))
            .transpose()
            .context("reading an authorisation")
    }

    /// Ends an authorisation at once. Returns its contract.
    pub async fn end_authorisation(&self, id: Id, change: Change) -> Result<Id> {
        let row =
            sqlx::query("SELECT contract_id, starts_at, ends_at FROM authorisations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .context("ending an authorisation")?
                .ok_or(DomainError::NotFound)?;
        let contract_id: Id = row
            .try_get("contract_id")
            .context("ending an authorisation")?;
        match period_of(&row)?.ended_at(change.at) {
            Some(ended) => self.update_authorisation(id, ended, change).await,
            None => Ok(contract_id),
        }
    }

    // ---- Services and systems ------------------------------------------

    pub async fn service(&self, id: Id) -> Result<Option<Service>> {
        sqlx::query(
            "SELECT id, business_partner_id, name, description, active FROM services WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a service")?
        .as_ref()
        .map(service)
        .transpose()
    }

    /// The services of business partners, by partner and name; retired
    /// ones only when asked.
    pub async fn services_of_partners(
        &self,
        partners: &[Id],
        with_retired: bool,
    ) -> Result<Vec<Service>> {
        if partners.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        sql.push(
            "SELECT id, business_partner_id, name, description, active FROM services \
             WHERE business_partner_id IN ",
        )
        .ids(partners);
        if !with_retired {
            sql.push(" AND active = 1");
        }
        sql.push(" ORDER BY business_partner_id, name, id");
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("listing services")?;
        rows.iter().map(service).collect()
    }

    pub async fn add_service(
        &self,
        business_partner: Id,
        input: &ServiceInput,
        change: Change,
    ) -> Result<Id> {
        let mut tx = self.begin_write("creating a service").await?;
        let id: Id = sqlx::query(
            "INSERT INTO services (business_partner_id, name, description, active) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(business_partner)
        .bind(&input.name)
        .bind(&input.description)
        .bind(i64::from(input.active))
        .fetch_one(&mut *tx)
        .await
        .context("creating a service")?
        .try_get("id")
        .context("creating a service")?;
        log(
            &mut tx,
            change,
            Logged {
                partner: Some(business_partner),
                kind: "service",
                id,
                action: "created",
                changes: created(&service_fields(input)),
            },
        )
        .await?;
        tx.commit().await.context("creating a service")?;
        Ok(id)
    }

    pub async fn update_service(&self, id: Id, input: &ServiceInput, change: Change) -> Result<()> {
        let mut tx = self.begin_write("changing a service").await?;
        let row = locked(
            &mut tx,
            "services",
            "id, business_partner_id, name, description, active",
            id,
        )
        .await?;
        let before = service(&row)?;
        sqlx::query("UPDATE services SET name = $2, description = $3, active = $4 WHERE id = $1")
            .bind(id)
            .bind(&input.name)
            .bind(&input.description)
            .bind(i64::from(input.active))
            .execute(&mut *tx)
            .await
            .context("changing a service")?;
        let old = ServiceInput {
            name: before.name,
            description: before.description,
            active: before.active,
        };
        let changes = diff(&service_fields(&old), &service_fields(input));
        log_changed(
            &mut tx,
            change,
            Some(before.business_partner_id),
            "service",
            id,
            changes,
        )
        .await?;
        tx.commit().await.context("changing a service")?;
        Ok(())
    }

    pub async fn system(&self, id: Id) -> Result<Option<System>> {
        sqlx::query(&format!("{SYSTEM_SELECT} WHERE s.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a system")?
            .as_ref()
            .map(system)
            .transpose()
    }

    /// Every system of a business partner, retired ones included, for the desk.
    pub async fn all_systems_of(&self, business_partner: Id) -> Result<Vec<System>> {
        let rows = sqlx::query(&format!(
            "{SYSTEM_SELECT} WHERE s.business_partner_id = $1 ORDER BY s.active DESC, s.name, s.id"
        ))
        .bind(business_partner)
        .fetch_all(&self.pool)
        .await
        .context("listing systems")?;
        rows.iter().map(system).collect()
    }

    pub async fn add_system(
        &self,
        business_partner: Id,
        input: &SystemInput,
        change: Change,
    ) -> Result<Id> {
        let mut tx = self.begin_write("registering a system").await?;
        let id = insert_system(&mut tx, business_partner, input, change).await?;
        tx.commit().await.context("registering a system")?;
        Ok(id)
    }

    pub async fn update_system(&self, id: Id, input: &SystemInput, change: Change) -> Result<()> {
        let mut tx = self.begin_write("changing a system").await?;
        locked(&mut tx, "systems", "id", id).await?;
        let before = sqlx::query(&format!("{SYSTEM_SELECT} WHERE s.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .context("changing a system")
            .and_then(|r| system(&r))?;
        if let Some(user) = input.user {
            check_member(&mut tx, "user_id", user, before.business_partner_id).await?;
        }
        sqlx::query(
            "UPDATE systems SET kind = $2, name = $3, inventory_number = $4, person_id = $5, \
             active = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(input.kind.code())
        .bind(&input.name)
        .bind(&input.inventory_number)
        .bind(input.user)
        .bind(i64::from(input.active))
        .execute(&mut *tx)
        .await
        .context("changing a system")?;
        let old = SystemInput {
            kind: before.kind,
            name: before.name,
            inventory_number: before.inventory_number,
            user: before.user_id,
            active: before.active,
        };
        let changes = diff(&system_fields(&old), &system_fields(input));
        log_changed(
            &mut tx,
            change,
            Some(before.business_partner_id),
            "system",
            id,
            changes,
        )
        .await?;
        tx.commit().await.context("changing a system")?;
        Ok(())
    }

    // ---- Pickers ---------------------------------------------------------

    /// Members of a business partner matching a search, for the "reported
    /// for" picker: active persons only, at most `limit`.
    pub async fn pick_persons(
        &self,
        business_partner: Id,
        term: &str,
        limit: i64,
    ) -> Result<Vec<PickItem>> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT p.id, p.name, p.email, u.name AS unit_name FROM memberships m \
             JOIN persons p ON p.id = m.person_id LEFT JOIN partner_units u ON u.id = m.unit_id \
             WHERE m.business_partner_id = ",
        )
        .bind(Arg::Int(business_partner))
        .push(" AND p.active = 1 AND p.is_agent = 0");
        if !term.is_empty() {
            push_search(&mut sql, &["p.name", "p.email"], term);
        }
        sql.push(" ORDER BY p.name, p.id LIMIT ")
            .bind(Arg::Int(limit));
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("finding persons")?;
        rows.iter()
            .map(|r| {
                let c = "reading a person";
                let email: String = r.try_get("email").context(c)?;
                let unit: Option<String> = r.try_get("unit_name").context(c)?;
                Ok(PickItem {
                    id: r.try_get("id").context(c)?,
                    label: r.try_get("name").context(c)?,
                    detail: match unit {
                        Some(u) => format!("{email} · {u}"),
                        None => email,
                    },
                })
            })
            .collect()
    }

    /// Services of a business partner in use, matching a search.
    pub async fn pick_services(
        &self,
        business_partner: Id,
        term: &str,
        limit: i64,
    ) -> Result<Vec<PickItem>> {
        let mut sql = Sql::default();
        sql.push("SELECT id, name, description FROM services WHERE business_partner_id = ")
            .bind(Arg::Int(business_partner))
            .push(" AND active = 1");
        if !term.is_empty() {
            push_search(&mut sql, &["name"], term);
        }
        sql.push(" ORDER BY name, id LIMIT ").bind(Arg::Int(limit));
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("finding services")?;
        rows.iter()
            .map(|r| {
                let c = "reading a service";
                let description: String = r.try_get("description").context(c)?;
                Ok(PickItem {
                    id: r.try_get("id").context(c)?,
                    label: r.try_get("name").context(c)?,
                    detail: description.chars().take(120).collect(),
                })
            })
            .collect()
    }

    /// Systems of a business partner in use, matching a search of name,
    /// inventory number or user; the systems of `first` (the person the
    /// ticket is for) come first.
    ///
    /// `by_user`: the term also matches the name of a system's user, for
    /// those who may see the partner's persons; for anyone else a search
    /// must not tell who uses what.
    pub async fn pick_systems(
        &self,
        business_partner: Id,
        term: &str,
        first: Option<Id>,
        by_user: bool,
        limit: i64,
    ) -> Result<Vec<System>> {
        let mut sql = Sql::default();
        sql.push(SYSTEM_SELECT)
            .push(" WHERE s.business_partner_id = ")
            .bind(Arg::Int(business_partner))
            .push(" AND s.active = 1");
        if !term.is_empty() {
            let columns: &[&str] = if by_user {
                &["s.name", "s.inventory_number", "p.name"]
            } else {
                &["s.name", "s.inventory_number"]
            };
            push_search(&mut sql, columns, term);
        }
        sql.push(" ORDER BY CASE WHEN s.person_id = ")
            .bind(Arg::Int(first.unwrap_or(0)))
            .push(" THEN 0 ELSE 1 END, s.name, s.id LIMIT ")
            .bind(Arg::Int(limit));
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("finding systems")?;
        rows.iter().map(system).collect()
    }

    /// Is this person an active member of this business partner?
    pub async fn is_active_member(&self, person: Id, business_partner: Id) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM memberships m JOIN persons p ON p.id = m.person_id \
             WHERE m.person_id = $1 AND m.business_partner_id = $2 AND p.active = 1 AND p.is_agent = 0",
        )
        .bind(person)
        .bind(business_partner)
        .fetch_optional(&self.pool)
        .await
        .context("checking a membership")?;
        Ok(row.is_some())
    }

    // ---- History -------------------------------------------------------

    /// The change log of a business partner and everything under it, newest first.
    pub async fn history_of_partner(
        &self,
        business_partner: Id,
        limit: i64,
    ) -> Result<Vec<ChangeEntry>> {
        self.history("l.business_partner_id = $1", business_partner, limit)
            .await
    }

    /// The change log of a person's own data and memberships, newest first.
    pub async fn history_of_person(&self, person: Id, limit: i64) -> Result<Vec<ChangeEntry>> {
        self.history(
            "l.object_kind IN ('person', 'membership') AND l.object_id = $1",
            person,
            limit,
        )
        .await
    }

    async fn history(&self, filter: &str, id: Id, limit: i64) -> Result<Vec<ChangeEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT l.id, l.at, p.name AS actor_name, l.object_kind, l.object_id, l.action, l.changes \
             FROM change_log l LEFT JOIN persons p ON p.id = l.actor_id \
             WHERE {filter} ORDER BY l.id DESC LIMIT $2"
        ))
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading the change log")?;
        rows.iter()
            .map(|r| {
                let c = "reading the change log";
                let changes: String = r.try_get("changes").context(c)?;
                Ok(ChangeEntry {
                    id: r.try_get("id").context(c)?,
                    at: r.try_get("at").context(c)?,
                    actor_name: r.try_get("actor_name").context(c)?,
                    object_kind: r.try_get("object_kind").context(c)?,
                    object_id: r.try_get("object_id").context(c)?,
                    action: r.try_get("action").context(c)?,
                    changes: serde_json::from_str(&changes).unwrap_or_default(),
                })
            })
            .collect()
    }
}

fn int(r: &AnyRow, column: &str) -> Result<i64> {
    // PostgreSQL answers a CASE of literals as INT4, SQLite as INTEGER.
    r.try_get::<i64, _>(column)
        .or_else(|_| r.try_get::<i32, _>(column).map(i64::from))
        .context("reading a number")
}

fn period_of(r: &AnyRow) -> Result<Period> {
    period(r, "")
}

fn contract(r: &AnyRow, now: Timestamp) -> Result<Contract> {
    let c = "reading a contract";
    let period = period_of(r)?;
    Ok(Contract {
        id: r.try_get("id").context(c)?,
        business_partner_id: r.try_get("business_partner_id").context(c)?,
        name: r.try_get("name").context(c)?,
        in_force: period.in_force(now),
        period,
        authorisations: Vec::new(),
    })
}

fn authorisation(r: &AnyRow) -> Result<Authorisation> {
    let c = "reading an authorisation";
    let email: String = r.try_get("person_email").context(c)?;
    Ok(Authorisation {
        id: r.try_get("id").context(c)?,
        contract_id: r.try_get("contract_id").context(c)?,
        person_id: r.try_get("person_id").context(c)?,
        person_name: r.try_get("person_name").context(c)?,
        person_email: ticketwerk_domain::Email::parse(&email)?,
        period: period_of(r)?,
        in_force: false,
    })
}

fn service_fields(s: &ServiceInput) -> [(&'static str, String); 3] {
    [
        ("name", s.name.clone()),
        ("description", s.description.clone()),
        ("active", flag(s.active)),
    ]
}

fn system_fields(s: &SystemInput) -> [(&'static str, String); 5] {
    [
        ("kind", s.kind.code().to_string()),
        ("name", s.name.clone()),
        ("inventory_number", s.inventory_number.clone()),
        ("user_id", s.user.map(|u| u.to_string()).unwrap_or_default()),
        ("active", flag(s.active)),
    ]
}

pub(crate) async fn insert_unit(
    tx: &mut Transaction<'_, Any>,
    business_partner: Id,
    input: &UnitInput,
    change: Change,
) -> Result<Id> {
    let row = sqlx::query(
        "INSERT INTO partner_units (business_partner_id, kind, name) VALUES ($1, $2, $3) \
         RETURNING id",
    )
    .bind(business_partner)
    .bind(input.kind.code())
    .bind(&input.name)
    .fetch_one(&mut **tx)
    .await;
    let id: Id = match row {
        Ok(row) => row.try_get("id").context("adding a department")?,
        Err(e) if is_unique_violation(&e) => {
            return Err(DomainError::invalid("name", "form.unit_exists").into());
        }
        Err(e) => return Err(e).context("adding a department"),
    };
    let fields = [
        ("kind", input.kind.code().to_string()),
        ("name", input.name.clone()),
    ];
    log(
        tx,
        change,
        Logged {
            partner: Some(business_partner),
            kind: "unit",
            id,
            action: "created",
            changes: created(&fields),
        },
    )
    .await?;
    Ok(id)
}

pub(crate) async fn insert_person(
    tx: &mut Transaction<'_, Any>,
    input: &PersonInput,
    change: Change,
) -> Result<Id> {
    let row = sqlx::query(
        "INSERT INTO persons (email, name, phone, language, is_agent, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
    )
    .bind(input.email.as_str())
    .bind(&input.name)
    .bind(&input.phone)
    .bind(input.language.code())
    .bind(change.at)
    .fetch_one(&mut **tx)
    .await;
    let id: Id = match row {
        Ok(row) => row.try_get("id").context("creating a person")?,
        Err(e) if is_unique_violation(&e) => {
            return Err(DomainError::invalid("email", "form.email_taken").into());
        }
        Err(e) => return Err(e).context("creating a person"),
    };
    let fields = [
        ("name", input.name.clone()),
        ("email", input.email.to_string()),
        ("phone", input.phone.clone()),
        ("language", input.language.code().to_string()),
    ];
    log(
        tx,
        change,
        Logged {
            partner: None,
            kind: "person",
            id,
            action: "created",
            changes: created(&fields),
        },
    )
    .await?;
    Ok(id)
}

pub(crate) async fn insert_membership(
    tx: &mut Transaction<'_, Any>,
    person: Id,
    business_partner: Id,
    unit_id: Option<Id>,
    change: Change,
) -> Result<()> {
    if let Some(unit_id) = unit_id {
        let found = sqlx::query(
            "SELECT 1 AS one FROM partner_units WHERE id = $1 AND business_partner_id = $2",
        )
        .bind(unit_id)
        .bind(business_partner)
        .fetch_optional(&mut **tx)
        .await
        .context("checking a department")?;
        if found.is_none() {
            return Err(DomainError::invalid("unit_id", "form.unknown_choice").into());
        }
    }
    let result = sqlx::query(
        "INSERT INTO memberships (person_id, business_partner_id, unit_id) VALUES ($1, $2, $3)",
    )
    .bind(person)
    .bind(business_partner)
    .bind(unit_id)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(DomainError::invalid("business_partner_id", "form.already_member").into());
        }
        Err(e) => return Err(e).context("adding a membership"),
    }
    log(
        tx,
        change,
        Logged {
            partner: Some(business_partner),
            kind: "membership",
            id: person,
            action: "created",
            changes: Vec::new(),
        },
    )
    .await
}

pub(crate) async fn insert_contract(
    tx: &mut Transaction<'_, Any>,
    business_partner: Id,
    input: &ContractInput,
    change: Change,
) -> Result<Id> {
    let id: Id = sqlx::query(
        "INSERT INTO contracts (business_partner_id, name, starts_at, ends_at, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(business_partner)
    .bind(&input.name)
    .bind(input.period.starts_at)
    .bind(input.period.ends_at)
    .bind(change.at)
    .fetch_one(&mut **tx)
    .await
    .context("creating a contract")?
    .try_get("id")
    .context("creating a contract")?;
    let mut fields = vec![("name", input.name.clone())];
    fields.extend(period_fields(&input.period));
    log(
        tx,
        change,
        Logged {
            partner: Some(business_partner),
            kind: "contract",
            id,
            action: "created",
            changes: created(&fields),
        },
    )
    .await?;
    Ok(id)
}

pub(crate) async fn insert_authorisation(
    tx: &mut Transaction<'_, Any>,
    contract_id: Id,
    person: Id,
    period: Period,
    change: Change,
) -> Result<Id> {
    let partner: Id = sqlx::query("SELECT business_partner_id FROM contracts WHERE id = $1")
        .bind(contract_id)
        .fetch_optional(&mut **tx)
        .await
        .context("authorising a person")?
        .ok_or(DomainError::NotFound)?
        .try_get("business_partner_id")
        .context("authorising a person")?;
    check_member(tx, "person_id", person, partner).await?;
    let id: Id = sqlx::query(
        "INSERT INTO authorisations (contract_id, person_id, starts_at, ends_at, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(contract_id)
    .bind(person)
    .bind(period.starts_at)
    .bind(period.ends_at)
    .bind(change.at)
    .fetch_one(&mut **tx)
    .await
    .context("authorising a person")?
    .try_get("id")
    .context("authorising a person")?;
    let mut fields = vec![("person_id", person.to_string())];
    fields.extend(period_fields(&period));
    log(
        tx,
        change,
        Logged {
            partner: Some(partner),
            kind: "authorisation",
            id,
            action: "created",
            changes: created(&fields),
        },
    )
    .await?;
    Ok(id)
}

pub(crate) async fn insert_system(
    tx: &mut Transaction<'_, Any>,
    business_partner: Id,
    input: &SystemInput,
    change: Change,
) -> Result<Id> {
    if let Some(user) = input.user {
        check_member(tx, "user_id", user, business_partner).await?;
    }
    let id: Id = sqlx::query(
        "INSERT INTO systems (business_partner_id, kind, name, inventory_number, person_id, active) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(business_partner)
    .bind(input.kind.code())
    .bind(&input.name)
    .bind(&input.inventory_number)
    .bind(input.user)
    .bind(i64::from(input.active))
    .fetch_one(&mut **tx)
    .await
    .context("registering a system")?
    .try_get("id")
    .context("registering a system")?;
    log(
        tx,
        change,
        Logged {
            partner: Some(business_partner),
            kind: "system",
            id,
            action: "created",
            changes: created(&system_fields(input)),
        },
    )
    .await?;
    Ok(id)
}
