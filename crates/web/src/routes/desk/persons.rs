//! Persons: the list, a new one, and the page of one with their own data,
//! their memberships, their initial password and their change log.
//!
//! Desk users (agents) are shown but not kept here: their data, their
//! sign-in and their place at the desk are the administrator's, so their
//! page has no forms and every change to them answers 404.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use ticketwerk_domain::DomainError;
use ticketwerk_domain::masterdata::{Language, PersonInput};
use ticketwerk_domain::model::Person;

use super::{
    CsrfForm, Desk, FormView, Forms, HISTORY, ListParams, PAGE_SIZE, Shown, attempt, coded,
    history, named, path_id, refused, saved,
};
use crate::session::now;
use crate::{App, WebError};

pub async fn persons(
    State(app): State<App>,
    desk: Desk,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let search = params.search();
    let page = app
        .store()
        .list_persons(search.as_deref(), params.after(), PAGE_SIZE)
        .await?;
    Ok(params.page(&app, &desk, "desk_persons.html", page))
}

/// A person the desk may change: a customer, never a desk user.
async fn customer_by(app: &App, raw: &str) -> Result<Person, WebError> {
    let person = named(raw, |id| app.store().person(id)).await?;
    if person.agent {
        return Err(WebError::NotFound);
    }
    Ok(person)
}

fn person_path(id: i64) -> String {
    format!("/desk/persons/{id}")
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PersonForm {
    csrf: String,
    name: String,
    email: String,
    phone: String,
    language: String,
    active: Option<String>,
}

impl PersonForm {
    fn input(&self) -> Result<PersonInput, DomainError> {
        PersonInput::parse(&self.name, &self.email, &self.phone, &self.language)
    }

    fn view(&self) -> FormView {
        FormView::new("")
            .with("name", &self.name)
            .with("email", &self.email)
            .with("phone", &self.phone)
            .with("language", &self.language)
            .flag("active", self.active.is_some())
    }
}

impl From<&Person> for PersonForm {
    fn from(p: &Person) -> Self {
        Self {
            name: p.name.clone(),
            email: p.email.to_string(),
            phone: p.phone.clone(),
            language: p.language.clone(),
            active: p.active.then(String::new),
            ..Self::default()
        }
    }
}

/// The person form's page, for a new person (`None`) or one stored.
pub(super) async fn person_page(
    app: &App,
    desk: &Desk,
    person: Option<Person>,
    mut forms: Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let new = || {
        PersonForm::default()
            .view()
            .with("language", "de")
            .flag("active", true)
    };
    let data = person.as_ref().map(|p| PersonForm::from(p).view());
    forms
        .entry("person".to_string())
        .or_insert_with(|| data.unwrap_or_else(new));
    forms
        .entry("membership".to_string())
        .or_insert_with(|| FormView::new("membership-"));
    forms
        .entry("identity".to_string())
        .or_insert_with(|| FormView::new("identity-"));
    forms
        .entry("invite".to_string())
        .or_insert_with(|| FormView::new("invite-"));
    let languages = coded(desk.lang, "md.language", Language::ALL, Language::code);
    let Some(person) = person else {
        let ctx = minijinja::context! { languages => languages };
        return Ok(desk.page(app, "desk_person.html", &forms, ctx));
    };
    let store = app.store();
    let entries = store.history_of_person(person.id, HISTORY).await?;
    let sign_in = super::identities::context(app, &person).await?;
    let ctx = minijinja::context! {
        memberships => store.memberships_of(person.id, now()).await?,
        history => history::shown(app, desk.lang, entries).await?,
        person => person,
        languages => languages,
        notice => notice,
        local_sign_in => app.settings().local_sign_in,
        ..sign_in
    };
    Ok(desk.page(app, "desk_person.html", &forms, ctx))
}

pub async fn person(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let person = named(&id, |id| app.store().person(id)).await?;
    person_page(&app, &desk, Some(person), Forms::new(), shown.notice()).await
}

pub async fn new_person(State(app): State<App>, desk: Desk) -> Result<Response, WebError> {
    person_page(&app, &desk, None, Forms::new(), None).await
}

pub async fn create_person(
    State(app): State<App>,
    desk: Desk,
    Form(form): Form<PersonForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;

    let (store, change) = (app.store(), desk.change());
    let added = attempt(form.input(), |input| async move {
        store.add_person(&input, change).await
    });
    match added.await? {
        Ok(id) => Ok(saved(&person_path(id), "data")),
        Err(errors) => {
            let forms = refused("person", form.view(), errors);
            person_page(&app, &desk, None, forms, None).await
        }
    }
}

pub async fn update_person(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<PersonForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = customer_by(&app, &id).await?;

    let (store, change, id) = (app.store(), desk.change(), person.id);
    let active = form.active.is_some();
    let updated = attempt(form.input(), |input| async move {
        store.update_person(id, &input, active, change).await
    });
    match updated.await? {
        Ok(()) => Ok(saved(&person_path(id), "data")),
        Err(errors) => {
            let forms = refused("person", form.view(), errors);
            person_page(&app, &desk, Some(person), forms, None).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct MembershipForm {
    csrf: String,
    customer_number: String,
}

pub async fn join(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<MembershipForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = customer_by(&app, &id).await?;

    let store = app.store();
    let partner = match form.customer_number.trim() {
        "" => Err(DomainError::invalid("customer_number", "form.required")),
        number => store
            .business_partner_by_number(number)
            .await?
            .ok_or_else(|| DomainError::invalid("customer_number", "form.unknown_customer_number")),
    };
    let (change, id) = (desk.change(), person.id);
    let joined = attempt(partner, |partner| async move {
        store.join_partner(id, partner.id, None, change).await
    });
    match joined.await? {
        Ok(()) => Ok(saved(&person_path(id), "memberships")),
        Err(errors) => {
            // The form names the business partner by its customer number.
            let errors = errors
                .into_values()
                .map(|code| ("customer_number", code))
                .collect();
            let view = FormView::new("membership-").with("customer_number", &form.customer_number);
            let forms = refused("membership", view, errors);
            person_page(&app, &desk, Some(person), forms, None).await
        }
    }
}

pub async fn leave(
    State(app): State<App>,
    desk: Desk,
    Path((id, partner)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = customer_by(&app, &id).await?;

    app.store()
        .leave_partner(person.id, path_id(&partner)?, desk.change())
        .await?;
    Ok(saved(&person_path(person.id), "memberships"))
}

/// Gives a customer a new initial password and withdraws their second
/// factor and sessions. The password is shown on this one response and
/// nowhere else: not logged, not stored but as a hash, not cached.
pub async fn reset_sign_in(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = customer_by(&app, &id).await?;

    let password = ticketwerk_domain::auth::generate_password();
    let hash = ticketwerk_domain::auth::hash_password(&password)
        .map_err(|e| WebError::Internal(e.into()))?;
    app.store()
        .reset_sign_in(person.id, &hash, desk.change())
        .await?;
    // Every second factor went with it: a security event the desk's log
    // shows, not only a change of master data.
    let detail = format!("by {}", desk.person.email.as_str());
    crate::routes::auth::security_event(&app, Some(person.id), "initial_password_set", &detail)
        .await;

    let ctx = minijinja::context! { person => person, password => password };
    let mut page = desk.page(&app, "desk_password.html", &Forms::new(), ctx);
    page.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(page)
}
