//! A contract and the persons it authorises. An authorisation is in force
//! while its own period and the contract's both are; ending one now takes
//! the person's rights away with their next request.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::tz::TimeZone;
use ticketwerk_domain::DomainError;
use ticketwerk_domain::masterdata::{ContractInput, Period};
use ticketwerk_domain::model::Contract;

use super::{
    CsrfForm, Desk, FormView, Forms, Shown, attempt, both, chosen_person, member_choices, named,
    path_id, period, period_values, refused, saved, zone,
};
use crate::session::now;
use crate::{App, WebError};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ContractForm {
    pub(super) csrf: String,
    name: String,
    valid_from: String,
    valid_until: String,
}

impl ContractForm {
    pub(super) fn input(&self, zone: &TimeZone) -> Result<ContractInput, DomainError> {
        let period = period(zone, &self.valid_from, &self.valid_until);
        ContractInput::parse(&self.name, period)
    }

    pub(super) fn view(&self, prefix: &str) -> FormView {
        FormView::new(prefix)
            .with("name", &self.name)
            .with("valid_from", &self.valid_from)
            .with("valid_until", &self.valid_until)
    }
}

fn contract_path(id: i64) -> String {
    format!("/desk/contracts/{id}")
}

/// A contract's page: its data, its authorisations each with a form of
/// its dates, and the form that authorises one more member.
async fn contract_page(
    app: &App,
    desk: &Desk,
    contract: Contract,
    mut forms: Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let store = app.store();
    let (zone, now) = (zone(app)?, now());
    let partner = store
        .partner(contract.business_partner_id)
        .await?
        .ok_or(WebError::NotFound)?;
    // Members this contract does not name yet, or no longer: an
    // authorisation running or still to come is changed on its own row.
    let named: Vec<_> = contract
        .authorisations
        .iter()
        .filter(|a| a.period.ends_at.is_none_or(|end| end > now))
        .map(|a| a.person_id)
        .collect();
    let mut members = store.members_of(partner.id, now).await?;
    let has_members = !members.is_empty();
    members.retain(|m| !named.contains(&m.person.id));
    let data = FormView::new("").with("name", &contract.name);
    forms
        .entry("contract".to_string())
        .or_insert_with(|| period_values(data, &zone, &contract.period));
    for a in &contract.authorisations {
        let prefix = format!("auth-{}-", a.id);
        forms
            .entry(format!("auth-{}", a.id))
            .or_insert_with(|| period_values(FormView::new(&prefix), &zone, &a.period));
    }
    let today = crate::dates::input_value(now, &zone);
    forms
        .entry("authorise".to_string())
        .or_insert_with(|| FormView::new("authorise-").with("valid_from", today));
    let ctx = minijinja::context! {
        contract => contract,
        partner => partner,
        people => member_choices(&members),
        has_members => has_members,
        now => now,
        notice => notice,
    };
    Ok(desk.page(app, "desk_contract.html", &forms, ctx))
}

pub async fn contract(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let contract = named(&id, |id| app.store().contract(id, now())).await?;
    contract_page(&app, &desk, contract, Forms::new(), shown.notice()).await
}

pub async fn update_contract(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ContractForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let contract = named(&id, |id| app.store().contract(id, now())).await?;

    let (store, change, id) = (app.store(), desk.change(), contract.id);
    let updated = attempt(form.input(&zone(&app)?), |input| async move {
        store.update_contract(id, &input, change).await
    });
    match updated.await? {
        Ok(()) => Ok(saved(&contract_path(id), "data")),
        Err(errors) => {
            let forms = refused("contract", form.view(""), errors);
            contract_page(&app, &desk, contract, forms, None).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AuthoriseForm {
    csrf: String,
    person_id: String,
    valid_from: String,
    valid_until: String,
}

pub async fn add_authorisation(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<AuthoriseForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let contract = named(&id, |id| app.store().contract(id, now())).await?;

    let person = chosen_person("person_id", &form.person_id)
        .and_then(|p| p.ok_or_else(|| DomainError::invalid("person_id", "form.required")));
    let period = period(&zone(&app)?, &form.valid_from, &form.valid_until);
    let (store, change, id) = (app.store(), desk.change(), contract.id);
    let added = attempt(both(person, period), |(person, period)| async move {
        store.authorise(id, person, period, change).await
    });
    match added.await? {
        Ok(_) => Ok(saved(&contract_path(id), "authorisations")),
        Err(errors) => {
            let view = FormView::new("authorise-")
                .with("person_id", &form.person_id)
                .with("valid_from", &form.valid_from)
                .with("valid_until", &form.valid_until);
            let forms = refused("authorise", view, errors);
            contract_page(&app, &desk, contract, forms, None).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AuthorisationForm {
    csrf: String,
    valid_from: String,
    valid_until: String,
}

pub async fn update_authorisation(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<AuthorisationForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let id = path_id(&id)?;
    let contract = app
        .store()
        .contract_of_authorisation(id)
        .await?
        .ok_or(WebError::NotFound)?;
    let contract = app
        .store()
        .contract(contract, now())
        .await?
        .ok_or(WebError::NotFound)?;

    let (store, change) = (app.store(), desk.change());
    let zone = zone(&app)?;
    let before = contract.authorisations.iter().find(|a| a.id == id);
    let period = period(&zone, &form.valid_from, &form.valid_until)
        .map(|p| keep_exact_end(p, before.map(|a| a.period), &form.valid_until, &zone));
    let updated = attempt(period, |period| async move {
        store.update_authorisation(id, period, change).await
    });
    match updated.await? {
        Ok(contract_id) => Ok(saved(&contract_path(contract_id), "authorisations")),
        Err(errors) => {
            let view = FormView::new(&format!("auth-{id}-"))
                .with("valid_from", &form.valid_from)
                .with("valid_until", &form.valid_until);
            let forms = refused(&format!("auth-{id}"), view, errors);
            contract_page(&app, &desk, contract, forms, None).await
        }
    }
}

/// An authorisation ended "now" ends at a second within its last day, but
/// the form can only show that day. Saved again with the same last day,
/// it keeps the second it ended at: saving the form unchanged must not
/// hand the rights back until midnight.
fn keep_exact_end(new: Period, old: Option<Period>, valid_until: &str, zone: &TimeZone) -> Period {
    let Some(old_end) = old.and_then(|p| p.ends_at) else {
        return new;
    };
    let same_day = crate::dates::input_value(old_end - 1, zone) == valid_until.trim();
    match new.ends_at {
        Some(end) if same_day && end > old_end && new.starts_at < old_end => Period {
            ends_at: Some(old_end),
            ..new
        },
        _ => new,
    }
}

pub async fn end_authorisation(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;

    let contract_id = app
        .store()
        .end_authorisation(path_id(&id)?, desk.change())
        .await?;
    tracing::info!(authorisation = %id, by = desk.person.id, "authorisation ended");
    Ok(saved(&contract_path(contract_id), "authorisations"))
}
