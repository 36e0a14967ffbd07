//! The desk links persons to identities at the identity providers, or
//! invites a person to link one themself, and reads the audit log. Each
//! link, unlink and invitation is a security event naming the agent.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::value::Value;
use ticketwerk_domain::identity::ExternalSubject;
use ticketwerk_domain::model::Person;
use ticketwerk_domain::{DomainError, Id};
use ticketwerk_storage::StorageError;

use super::{Desk, Errors, FormView, Forms, PAGE_SIZE, path_id, refused};
use crate::routes::auth::security_event;
use crate::session::now;
use crate::{App, WebError};

/// How long an invitation to link an identity stands.
const INVITATION_SECS: i64 = 14 * 86_400;

/// What the person page shows of sign-in through providers.
pub(super) async fn context(app: &App, person: &Person) -> Result<Value, WebError> {
    let store = app.store();
    let label = |name: &str| {
        app.provider(name)
            .map_or_else(|| name.to_string(), |p| p.config().label.clone())
    };
    let identities: Vec<Value> = store
        .identities_of(person.id)
        .await?
        .into_iter()
        .map(|i| {
            minijinja::context! {
                id => i.id, provider => label(&i.provider), subject => i.subject,
                label => i.label, linked_at => i.linked_at, last_used_at => i.last_used_at,
                by_desk => i.linked_by.is_some(),
            }
        })
        .collect();
    let invitations: Vec<Value> = store
        .invitations_of(person.id, now())
        .await?
        .into_iter()
        .map(|(p, expires_at)| minijinja::context! { label => label(&p), expires_at => expires_at })
        .collect();
    let providers: Vec<Value> = app
        .providers()
        .iter()
        .map(|p| {
            let c = p.config();
            let entra = matches!(
                c.kind,
                ticketwerk_domain::identity::ProviderKind::Entra { .. }
            );
            minijinja::context! { value => c.name, label => c.label, entra => entra }
        })
        .collect();
    Ok(minijinja::context! {
        identities => identities,
        invitations => invitations,
        providers => providers,
    })
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct LinkForm {
    csrf: String,
    provider: String,
    subject: String,
}

pub async fn link(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = linkable(&app, &desk, &id).await?;

    let view = FormView::new("identity-")
        .with("provider", form.provider.clone())
        .with("subject", form.subject.clone());
    let mut errors = Errors::new();
    let provider = app.provider(&form.provider);
    if provider.is_none() {
        errors.insert("provider", "form.invalid_choice");
    }
    let subject = provider.and_then(|p| ExternalSubject::parse(&p.config().kind, &form.subject));
    let (Some(provider), Some(subject)) = (provider, subject) else {
        if provider.is_some() {
            errors.insert("subject", "identity.subject_invalid");
        }
        return shown(&app, &desk, person, refused("identity", view, errors)).await;
    };
    let name = &provider.config().name;
    let linked = app
        .store()
        .link_identity(
            person.id,
            name,
            subject.as_str(),
            "",
            Some(desk.person.id),
            now(),
        )
        .await;
    match linked {
        Ok(_) => {
            let detail = format!("{name}: by {}", desk.person.email.as_str());
            security_event(&app, Some(person.id), "identity_linked", &detail).await;
            Ok(saved(person.id))
        }
        Err(StorageError::Domain(DomainError::Invalid(fields))) => {
            let errors = fields.into_iter().map(|f| (f.field, f.code)).collect();
            shown(&app, &desk, person, refused("identity", view, errors)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn unlink(
    State(app): State<App>,
    desk: Desk,
    Path((id, identity)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = linkable(&app, &desk, &id).await?;
    let identity = path_id(&identity)?;

    let removed = app.store().unlink_identity(person.id, identity).await?;
    let Some(removed) = removed else {
        return Err(WebError::NotFound);
    };
    let detail = format!("{}: by {}", removed.provider, desk.person.id);
    security_event(&app, Some(person.id), "identity_unlinked", &detail).await;
    Ok(saved(person.id))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    csrf: String,
    provider: String,
}

pub async fn invite(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let person = linkable(&app, &desk, &id).await?;
    let Some(provider) = app.provider(&form.provider) else {
        let view = FormView::new("invite-").with("provider", form.provider.clone());
        let errors = Errors::from([("provider", "form.invalid_choice")]);
        return shown(&app, &desk, person, refused("invite", view, errors)).await;
    };

    let name = &provider.config().name;
    let now = now();
    app.store()
        .invite_identity(person.id, name, desk.person.id, now, now + INVITATION_SECS)
        .await?;
    let detail = format!("{name}: by {}", desk.person.email.as_str());
    security_event(&app, Some(person.id), "identity_invited", &detail).await;
    Ok(saved(person.id))
}

async fn person_by(app: &App, raw: &str) -> Result<Person, WebError> {
    app.store()
        .person(path_id(raw)?)
        .await?
        .ok_or(WebError::NotFound)
}

/// A person whose sign-in this agent may link: a customer, or the agent
/// themself. Another desk user's account is not theirs to link: an
/// identity the agent controls would let them act in that colleague's
/// name.
async fn linkable(app: &App, desk: &Desk, raw: &str) -> Result<Person, WebError> {
    let person = person_by(app, raw).await?;
    if person.agent && person.id != desk.person.id {
        return Err(WebError::NotFound);
    }
    Ok(person)
}

fn saved(person: Id) -> Response {
    Redirect::to(&format!("/desk/persons/{person}?saved=1#identities")).into_response()
}

async fn shown(app: &App, desk: &Desk, person: Person, forms: Forms) -> Result<Response, WebError> {
    super::persons::person_page(app, desk, Some(person), forms, None).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AuditQuery {
    person: Option<String>,
    before: Option<String>,
}

/// The audit log, newest first, of everyone or one person.
pub async fn audit(
    State(app): State<App>,
    desk: Desk,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let person = match query.person.as_deref().filter(|p| !p.is_empty()) {
        Some(raw) => Some(person_by(&app, raw).await?),
        None => None,
    };
    let before = match query.before.as_deref().filter(|b| !b.is_empty()) {
        Some(raw) => Some(path_id(raw)?),
        None => None,
    };

    let mut entries = app
        .store()
        .audit_page(person.as_ref().map(|p| p.id), before, PAGE_SIZE + 1)
        .await?;
    let more = entries.len() as i64 > PAGE_SIZE;
    entries.truncate(PAGE_SIZE as usize);
    let next = more.then(|| entries.last().map(|e| e.id)).flatten();
    let rows: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            minijinja::context! {
                at => e.at, person => e.person, name => e.person_name,
                email => e.person_email, event => e.event, detail => e.detail,
            }
        })
        .collect();
    let ctx = minijinja::context! {
        entries => rows,
        person => person,
        next => next,
        paged => before.is_some(),
    };
    Ok(desk.page(&app, "desk_audit.html", &Forms::new(), ctx))
}
