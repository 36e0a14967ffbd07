//! Business partners: the list, a new one, and the page of one with its
//! departments and locations, members, contracts, services, systems and
//! change log, each with the form that adds to it.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ticketwerk_domain::DomainError;
use ticketwerk_domain::masterdata::{PartnerInput, SystemKind, UnitInput, UnitKind};
use ticketwerk_domain::model::BusinessPartner;

use super::contracts::ContractForm;
use super::things::{ServiceForm, SystemForm};
use super::{
    CsrfForm, Desk, FormView, Forms, HISTORY, ListParams, PAGE_SIZE, Shown, attempt, coded,
    history, member_choices, named, path_id, refused, saved, zone,
};
use crate::session::now;
use crate::{App, WebError};

pub async fn partners(
    State(app): State<App>,
    desk: Desk,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let search = params.search();
    let page = app
        .store()
        .list_partners(search.as_deref(), params.after(), PAGE_SIZE)
        .await?;
    Ok(params.page(&app, &desk, "desk_partners.html", page))
}

fn partner_view(customer_number: &str, name: &str) -> FormView {
    FormView::new("")
        .with("customer_number", customer_number)
        .with("name", name)
}

/// A business partner's page: `forms` holds a refused form, if any; the
/// others show the stored data or start empty.
async fn partner_page(
    app: &App,
    desk: &Desk,
    partner: BusinessPartner,
    mut forms: Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let store = app.store();
    let (id, now, lang) = (partner.id, now(), desk.lang);
    let members = store.members_of(id, now).await?;
    let entries = store.history_of_partner(id, HISTORY).await?;
    let today = crate::dates::input_value(now, &zone(app)?);
    let defaults = [
        (
            "partner",
            partner_view(&partner.customer_number, &partner.name),
        ),
        ("unit", FormView::new("unit-").with("kind", "department")),
        (
            "contract",
            FormView::new("contract-").with("valid_from", today),
        ),
        ("service", FormView::new("service-").flag("active", true)),
        ("system", FormView::new("system-").flag("active", true)),
    ];
    for (name, form) in defaults {
        forms.entry(name.to_string()).or_insert(form);
    }
    let ctx = minijinja::context! {
        partner => &partner,
        notice => notice,
        units => store.units_of(id).await?,
        people => member_choices(&members),
        members => members,
        contracts => store.contracts_of(id, now).await?,
        services => store.services_of_partners(&[id], true).await?,
        systems => store.all_systems_of(id).await?,
        history => history::shown(app, lang, entries).await?,
        unit_kinds => coded(lang, "unit_kind", UnitKind::ALL, UnitKind::code),
        system_kinds => coded(lang, "system_kind", SystemKind::ALL, SystemKind::code),
    };
    Ok(desk.page(app, "desk_partner.html", &forms, ctx))
}

pub async fn partner(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let partner = named(&id, |id| app.store().partner(id)).await?;
    partner_page(&app, &desk, partner, Forms::new(), shown.notice()).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PartnerForm {
    csrf: String,
    customer_number: String,
    name: String,
}

impl PartnerForm {
    fn input(&self) -> Result<PartnerInput, DomainError> {
        PartnerInput::parse(&self.customer_number, &self.name)
    }

    fn view(&self) -> FormView {
        partner_view(&self.customer_number, &self.name)
    }
}

/// The page of a partner yet to be created: only its data form.
fn new_partner_page(app: &App, desk: &Desk, mut forms: Forms) -> Response {
    forms.entry("partner".to_string()).or_default();
    desk.page(app, "desk_partner.html", &forms, minijinja::context! {})
}

pub async fn new_partner(State(app): State<App>, desk: Desk) -> Response {
    new_partner_page(&app, &desk, Forms::new())
}

pub async fn create_partner(
    State(app): State<App>,
    desk: Desk,
    Form(form): Form<PartnerForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;

    let (store, change) = (app.store(), desk.change());
    let added = attempt(form.input(), |input| async move {
        store.add_partner(&input, change).await
    });
    match added.await? {
        Ok(id) => Ok(saved(&format!("/desk/partners/{id}"), "data")),
        Err(errors) => Ok(new_partner_page(
            &app,
            &desk,
            refused("partner", form.view(), errors),
        )),
    }
}

pub async fn update_partner(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<PartnerForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), partner.id);
    let updated = attempt(form.input(), |input| async move {
        store.update_partner(id, &input, change).await
    });
    match updated.await? {
        Ok(()) => Ok(saved(&format!("/desk/partners/{id}"), "data")),
        Err(errors) => {
            let forms = refused("partner", form.view(), errors);
            partner_page(&app, &desk, partner, forms, None).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct UnitForm {
    csrf: String,
    kind: String,
    name: String,
}

pub async fn add_unit(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<UnitForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), partner.id);
    let added = attempt(
        UnitInput::parse(&form.kind, &form.name),
        |input| async move { store.add_unit(id, &input, change).await },
    );
    match added.await? {
        Ok(_) => Ok(saved(&format!("/desk/partners/{id}"), "units")),
        Err(errors) => {
            let view = FormView::new("unit-")
                .with("kind", &form.kind)
                .with("name", &form.name);
            partner_page(&app, &desk, partner, refused("unit", view, errors), None).await
        }
    }
}

pub async fn remove_unit(
    State(app): State<App>,
    desk: Desk,
    Path((id, unit)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    app.store()
        .remove_unit(partner.id, path_id(&unit)?, desk.change())
        .await?;
    Ok(saved(&format!("/desk/partners/{}", partner.id), "units"))
}

pub async fn add_contract(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ContractForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), partner.id);
    let added = attempt(form.input(&zone(&app)?), |input| async move {
        store.add_contract(id, &input, change).await
    });
    match added.await? {
        Ok(contract) => Ok(saved(&format!("/desk/contracts/{contract}"), "data")),
        Err(errors) => {
            let forms = refused("contract", form.view("contract-"), errors);
            partner_page(&app, &desk, partner, forms, None).await
        }
    }
}

pub async fn add_service(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), partner.id);
    let added = attempt(form.input(), |input| async move {
        store.add_service(id, &input, change).await
    });
    match added.await? {
        Ok(_) => Ok(saved(&format!("/desk/partners/{id}"), "services")),
        Err(errors) => {
            let forms = refused("service", form.view("service-"), errors);
            partner_page(&app, &desk, partner, forms, None).await
        }
    }
}

pub async fn add_system(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<SystemForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let partner = named(&id, |id| app.store().partner(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), partner.id);
    let added = attempt(form.input(), |input| async move {
        store.add_system(id, &input, change).await
    });
    match added.await? {
        Ok(_) => Ok(saved(&format!("/desk/partners/{id}"), "systems")),
        Err(errors) => {
            let forms = refused("system", form.view("system-"), errors);
            partner_page(&app, &desk, partner, forms, None).await
        }
    }
}
