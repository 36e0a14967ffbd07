//! Services a business partner has booked and the systems registered for
//! it, each with a page of its own.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ticketwerk_domain::DomainError;
use ticketwerk_domain::masterdata::{ServiceInput, SystemInput, SystemKind};
use ticketwerk_domain::model::{Service, System};

use super::{
    Desk, FormView, Forms, Shown, attempt, both, chosen_person, coded, member_choices, named,
    refused, saved,
};
use crate::session::now;
use crate::{App, WebError};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ServiceForm {
    pub(super) csrf: String,
    name: String,
    description: String,
    active: Option<String>,
}

impl ServiceForm {
    pub(super) fn input(&self) -> Result<ServiceInput, DomainError> {
        ServiceInput::parse(&self.name, &self.description, self.active.is_some())
    }

    pub(super) fn view(&self, prefix: &str) -> FormView {
        FormView::new(prefix)
            .with("name", &self.name)
            .with("description", &self.description)
            .flag("active", self.active.is_some())
    }
}

impl From<&Service> for ServiceForm {
    fn from(s: &Service) -> Self {
        Self {
            name: s.name.clone(),
            description: s.description.clone(),
            active: s.active.then(String::new),
            ..Self::default()
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct SystemForm {
    pub(super) csrf: String,
    kind: String,
    name: String,
    inventory_number: String,
    /// Empty: nobody uses it.
    user_id: String,
    active: Option<String>,
}

impl SystemForm {
    pub(super) fn input(&self) -> Result<SystemInput, DomainError> {
        let user = chosen_person("user_id", &self.user_id);
        let rest = SystemInput::parse(
            &self.kind,
            &self.name,
            &self.inventory_number,
            None,
            self.active.is_some(),
        );
        both(user, rest).map(|(user, input)| SystemInput { user, ..input })
    }

    pub(super) fn view(&self, prefix: &str) -> FormView {
        FormView::new(prefix)
            .with("kind", &self.kind)
            .with("name", &self.name)
            .with("inventory_number", &self.inventory_number)
            .with("user_id", &self.user_id)
            .flag("active", self.active.is_some())
    }
}

impl From<&System> for SystemForm {
    fn from(s: &System) -> Self {
        Self {
            kind: s.kind.code().to_string(),
            name: s.name.clone(),
            inventory_number: s.inventory_number.clone(),
            user_id: s.user_id.map(|id| id.to_string()).unwrap_or_default(),
            active: s.active.then(String::new),
            ..Self::default()
        }
    }
}

async fn service_page(
    app: &App,
    desk: &Desk,
    service: Service,
    mut forms: Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let partner = app.store().partner(service.business_partner_id).await?;
    forms
        .entry("service".to_string())
        .or_insert_with(|| ServiceForm::from(&service).view(""));
    let ctx = minijinja::context! { service => service, partner => partner, notice => notice };
    Ok(desk.page(app, "desk_service.html", &forms, ctx))
}

pub async fn service(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let service = named(&id, |id| app.store().service(id)).await?;
    service_page(&app, &desk, service, Forms::new(), shown.notice()).await
}

pub async fn update_service(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let service = named(&id, |id| app.store().service(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), service.id);
    let updated = attempt(form.input(), |input| async move {
        store.update_service(id, &input, change).await
    });
    match updated.await? {
        Ok(()) => Ok(saved(&format!("/desk/services/{id}"), "data")),
        Err(errors) => {
            let forms = refused("service", form.view(""), errors);
            service_page(&app, &desk, service, forms, None).await
        }
    }
}

async fn system_page(
    app: &App,
    desk: &Desk,
    system: System,
    mut forms: Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let store = app.store();
    let partner = store.partner(system.business_partner_id).await?;
    let members = store.members_of(system.business_partner_id, now()).await?;
    forms
        .entry("system".to_string())
        .or_insert_with(|| SystemForm::from(&system).view(""));
    let ctx = minijinja::context! {
        system => system,
        partner => partner,
        people => member_choices(&members),
        system_kinds => coded(desk.lang, "system_kind", SystemKind::ALL, SystemKind::code),
        notice => notice,
    };
    Ok(desk.page(app, "desk_system.html", &forms, ctx))
}

pub async fn system(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let system = named(&id, |id| app.store().system(id)).await?;
    system_page(&app, &desk, system, Forms::new(), shown.notice()).await
}

pub async fn update_system(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<SystemForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let system = named(&id, |id| app.store().system(id)).await?;

    let (store, change, id) = (app.store(), desk.change(), system.id);
    let updated = attempt(form.input(), |input| async move {
        store.update_system(id, &input, change).await
    });
    match updated.await? {
        Ok(()) => Ok(saved(&format!("/desk/systems/{id}"), "data")),
        Err(errors) => {
            let forms = refused("system", form.view(""), errors);
            system_page(&app, &desk, system, forms, None).await
        }
    }
}
