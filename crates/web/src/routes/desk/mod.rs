//! The desk's master data: business partners with their departments,
//! members, contracts, services and systems; persons and their
//! memberships; the change log of all of it. Agents only: to anyone else
//! these pages do not exist (404, never 403), which the `Desk` extractor
//! decides before a handler runs.
//!
//! Each page is plain forms. A form that is accepted redirects (303) to
//! the page of its object with `?saved=1`; a refused one comes back as the
//! same page with status 422, what was typed kept and each problem at its
//! field. New partners, persons and contracts go to their own page, where
//! the next steps are; departments, services and systems added on a
//! partner's page return there.

mod contracts;
mod history;
mod identities;
mod mail;
mod partners;
mod persons;
mod things;

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use minijinja::value::Value;
use ticketwerk_domain::masterdata::Period;
use ticketwerk_domain::model::Member;
use ticketwerk_domain::{DomainError, FieldError, Id};
use ticketwerk_storage::{Change, NamedPage, StorageError};

pub use contracts::{
    add_authorisation, contract, end_authorisation, update_authorisation, update_contract,
};
pub use identities::{
    audit, invite as invite_identity, link as link_identity, unlink as unlink_identity,
};
pub use mail::{
    accept as accept_mail, attach as attach_mail, discard as discard_mail, held as held_mails,
    mail, raw as raw_mail, retry as retry_mail,
};
pub use partners::{
    add_contract, add_service, add_system, add_unit, create_partner, new_partner, partner,
    partners, remove_unit, update_partner,
};
pub use persons::{
    create_person, join, leave, new_person, person, persons, reset_sign_in, update_person,
};
pub use things::{service, system, update_service, update_system};

use crate::i18n::{Lang, text};
use crate::session::{Current, now};
use crate::{App, WebError};

/// Rows per page of the desk's lists.
const PAGE_SIZE: i64 = 50;
/// Entries of the change log shown on a page.
const HISTORY: i64 = 100;

/// A signed-in person who keeps master data.
pub struct Desk(Current);

impl FromRequestParts<App> for Desk {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, WebError> {
        let current = Current::from_request_parts(parts, app).await?;
        if !current.viewer.may_keep_master_data() {
            return Err(WebError::NotFound);
        }
        Ok(Desk(current))
    }
}

impl Deref for Desk {
    type Target = Current;

    fn deref(&self) -> &Current {
        &self.0
    }
}

impl Desk {
    /// A change made now by this agent, for the change log.
    pub(crate) fn change(&self) -> Change {
        Change {
            actor: Some(self.person.id),
            at: now(),
        }
    }

    /// A desk page with the shared context; 422 when a form was refused.
    fn page(&self, app: &App, name: &str, forms: &Forms, ctx: Value) -> Response {
        let ctx = minijinja::context! { ..self.chrome(app), ..minijinja::context! {
            forms => forms,
        }, ..ctx };
        let mut page = app.page(name, ctx);
        if forms.values().any(|f| !f.errors.is_empty()) {
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        page
    }
}

/// Problems of a form: field → message key.
type Errors = BTreeMap<&'static str, &'static str>;

/// One form of a page as shown: its values, its problems, and the prefix
/// of its inputs' ids, so that several forms share a page.
#[derive(Clone, Debug, Default, serde::Serialize)]
struct FormView {
    prefix: String,
    values: BTreeMap<&'static str, String>,
    errors: Errors,
}

impl FormView {
    fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            ..Self::default()
        }
    }

    fn with(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.values.insert(field, value.into());
        self
    }

    /// A checkbox: present when ticked.
    fn flag(self, field: &'static str, on: bool) -> Self {
        if on { self.with(field, "1") } else { self }
    }

    fn refused(mut self, errors: Errors) -> Self {
        self.errors = errors;
        self
    }
}

/// The forms of a page by name; a page fills in those not given.
type Forms = BTreeMap<String, FormView>;

/// The forms of a page where one was refused.
fn refused(name: &str, form: FormView, errors: Errors) -> Forms {
    Forms::from([(name.to_string(), form.refused(errors))])
}

/// The field problems of refused input; any other failure stays one.
fn field_errors(e: DomainError) -> Result<Errors, WebError> {
    match e {
        DomainError::Invalid(fields) => Ok(fields.into_iter().map(|f| (f.field, f.code)).collect()),
        other => Err(other.into()),
    }
}

/// Checks input, then writes it: the written result, or the problems of
/// the input as the domain or storage found them.
async fn attempt<I, T, F>(
    input: Result<I, DomainError>,
    write: impl FnOnce(I) -> F,
) -> Result<Result<T, Errors>, WebError>
where
    F: Future<Output = Result<T, StorageError>>,
{
    let input = match input {
        Ok(input) => input,
        Err(e) => return field_errors(e).map(Err),
    };
    match write(input).await {
        Ok(done) => Ok(Ok(done)),
        Err(StorageError::Domain(e)) => field_errors(e).map(Err),
        Err(other) => Err(other.into()),
    }
}

/// Back to an object's page after a change, saying it was saved.
fn saved(path: &str, section: &str) -> Response {
    Redirect::to(&format!("{path}?saved=1#{section}")).into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct Shown {
    saved: Option<String>,
}

impl Shown {
    fn notice(&self) -> Option<&'static str> {
        self.saved.is_some().then_some("md.saved")
    }
}

/// The object a path names: an id that is malformed or names nothing
/// answers 404.
async fn named<T, F>(raw: &str, find: impl FnOnce(Id) -> F) -> Result<T, WebError>
where
    F: Future<Output = Result<Option<T>, StorageError>>,
{
    find(path_id(raw)?).await?.ok_or(WebError::NotFound)
}

/// An id of a path; anything else names nothing.
fn path_id(raw: &str) -> Result<Id, WebError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::NotFound);
    }
    raw.parse().map_err(|_| WebError::NotFound)
}

/// The time zone the desk's dates are days of.
fn zone(app: &App) -> Result<TimeZone, WebError> {
    TimeZone::get(&app.settings().time_zone).map_err(|e| WebError::Internal(e.into()))
}

/// The period of a form's "valid from" (required) and "valid until"
/// (optional, the last day in force), checked as the domain checks it.
fn period(zone: &TimeZone, valid_from: &str, valid_until: &str) -> Result<Period, DomainError> {
    let mut problems = Vec::new();
    let start = match valid_from.trim() {
        "" => {
            problems.push(FieldError {
                field: "valid_from",
                code: "form.required",
            });
            None
        }
        raw => crate::dates::day_start(raw, zone),
    };
    if start.is_none() && problems.is_empty() {
        problems.push(FieldError {
            field: "valid_from",
            code: "form.invalid_date",
        });
    }
    let end = match valid_until.trim() {
        "" => Some(None),
        raw => crate::dates::day_end(raw, zone).map(Some),
    };
    if end.is_none() {
        problems.push(FieldError {
            field: "valid_until",
            code: "form.invalid_date",
        });
    }
    match (start, end) {
        (Some(start), Some(end)) if problems.is_empty() => Period::new(start, end),
        _ => Err(DomainError::Invalid(problems)),
    }
}

/// The date inputs of a period as its form shows them.
fn period_values(form: FormView, zone: &TimeZone, period: &Period) -> FormView {
    let until = period
        .ends_at
        .map(|end| crate::dates::input_value(end - 1, zone))
        .unwrap_or_default();
    form.with(
        "valid_from",
        crate::dates::input_value(period.starts_at, zone),
    )
    .with("valid_until", until)
}

/// One option of a `<select>`.
#[derive(serde::Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// Options of coded values, labelled by `<prefix>.<code>`.
fn coded<T: Copy>(lang: Lang, prefix: &str, all: &[T], code: fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: code(*v).to_string(),
            label: text(lang, &format!("{prefix}.{}", code(*v))),
        })
        .collect()
}

/// The members of a business partner as options, by name.
fn member_choices(members: &[Member]) -> Vec<Choice> {
    members
        .iter()
        .map(|m| Choice {
            value: m.person.id.to_string(),
            label: format!("{} ({})", m.person.name, m.person.email),
        })
        .collect()
}

/// Both inputs, or the problems of either and both.
fn both<A, B>(a: Result<A, DomainError>, b: Result<B, DomainError>) -> Result<(A, B), DomainError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(DomainError::Invalid(mut x)), Err(DomainError::Invalid(y))) => {
            x.extend(y);
            Err(DomainError::Invalid(x))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// An optional person of a `<select>`: empty is none.
fn chosen_person(field: &'static str, raw: &str) -> Result<Option<Id>, DomainError> {
    match raw.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| DomainError::invalid(field, "form.unknown_choice")),
    }
}

/// A form that only says "do it": a button.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

/// Search and page of a desk list.
#[derive(serde::Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    after: Option<String>,
}

impl ListParams {
    /// The search as meant: repeated spaces are one.
    fn search(&self) -> Option<String> {
        let q = self.q.as_deref().unwrap_or("");
        Some(q.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|q| !q.is_empty())
    }

    fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// One page of a list, with its search and the links to page on.
    fn page<T: serde::Serialize>(
        &self,
        app: &App,
        desk: &Desk,
        name: &str,
        page: NamedPage<T>,
    ) -> Response {
        let ctx = minijinja::context! {
            page => page,
            q => self.search(),
            paged => self.after.is_some(),
        };
        desk.page(app, name, &Forms::new(), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn codes(e: DomainError) -> Vec<(&'static str, &'static str)> {
        field_errors(e)
            .ok()
            .map(|e| e.into_iter().collect())
            .unwrap_or_default()
    }

    #[test]
    fn periods_from_dates() {
        let z = berlin();
        let p = period(&z, "2026-01-01", "2026-01-31").unwrap();
        assert_eq!(p.ends_at.unwrap() - p.starts_at, 31 * 86_400);
        assert_eq!(period(&z, "2026-01-01", "").unwrap().ends_at, None);
        assert_eq!(
            codes(period(&z, "", "31.01.2026").unwrap_err()),
            vec![
                ("valid_from", "form.required"),
                ("valid_until", "form.invalid_date")
            ]
        );
        assert_eq!(
            codes(period(&z, "2026-02-01", "2026-01-31").unwrap_err()),
            vec![("valid_until", "form.ends_before_start")]
        );
        let same_day = period(&z, "2026-02-01", "2026-02-01").unwrap();
        let shown = period_values(FormView::new(""), &z, &same_day);
        assert_eq!(shown.values["valid_until"], "2026-02-01");
    }

    #[test]
    fn path_ids_are_digits() {
        assert_eq!(path_id("42").ok(), Some(42));
        for bad in ["", "+1", "-1", "1a", "99999999999999999999"] {
            assert!(path_id(bad).is_err(), "{bad}");
        }
    }
}
