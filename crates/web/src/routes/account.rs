//! The security page of the signed-in person: their second factors (the
//! authenticator app, passkeys, recovery codes) and the identities their
//! account is linked to. Every change is a security event, and the page
//! says what to do after signing in with a recovery code.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::Id;
use ticketwerk_domain::auth;
use ticketwerk_storage::TotpSetup;

use super::auth::{enrol_context, pending_secret, security_event};
use super::passkeys::{MAX_NAME, passkey_name};
use crate::session::{Current, now};
use crate::{App, WebError};

/// Below this many unused recovery codes the page urges new ones.
const FEW_CODES: i64 = 3;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Shown {
    recovered: Option<String>,
    added: Option<String>,
    removed: Option<String>,
    renamed: Option<String>,
    linked: Option<String>,
    unlinked: Option<String>,
    taken: Option<String>,
    replaced: Option<String>,
}

impl Shown {
    fn notice(&self) -> Option<&'static str> {
        [
            (&self.added, "security.notice_added"),
            (&self.removed, "security.notice_removed"),
            (&self.renamed, "security.notice_renamed"),
            (&self.linked, "security.notice_linked"),
            (&self.unlinked, "security.notice_unlinked"),
            (&self.taken, "security.notice_taken"),
            (&self.replaced, "security.notice_replaced"),
        ]
        .into_iter()
        .find_map(|(flag, key)| flag.is_some().then_some(key))
    }
}

pub async fn page(
    State(app): State<App>,
    current: Current,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let person = current.person.id;
    let store = app.store();
    let credentials = store
        .credentials_by_id(person)
        .await?
        .ok_or(WebError::SignIn)?;
    let passkeys: Vec<minijinja::Value> = store
        .passkeys_of(person)
        .await?
        .into_iter()
        .map(|p| {
            minijinja::context! {
                id => p.id, name => p.name, created_at => p.created_at,
                last_used_at => p.last_used_at,
            }
        })
        .collect();
    let label = |name: &str| {
        app.provider(name)
            .map_or_else(|| name.to_string(), |p| p.config().label.clone())
    };
    let identities: Vec<minijinja::Value> = store
        .identities_of(person)
        .await?
        .into_iter()
        .map(|i| {
            minijinja::context! {
                id => i.id, provider => label(&i.provider), label => i.label,
                linked_at => i.linked_at, last_used_at => i.last_used_at,
            }
        })
        .collect();
    // Only invitations to providers this installation still offers.
    let invitations: Vec<minijinja::Value> = store
        .invitations_of(person, now())
        .await?
        .into_iter()
        .filter(|(p, _)| app.provider(p).is_some())
        .map(|(p, expires_at)| {
            minijinja::context! { name => p, label => label(&p), expires_at => expires_at }
        })
        .collect();
    let codes_left = store.unused_recovery_codes(person).await?;
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        recovered => shown.recovered.is_some(),
        notice => shown.notice(),
        totp => credentials.totp_secret.is_some(),
        passkeys_offered => app.passkeys().is_some(),
        passkeys => passkeys,
        max_name => MAX_NAME,
        identities => identities,
        invitations => invitations,
        codes_left => codes_left,
        few_codes => codes_left < FEW_CODES,
    }};
    Ok(app.page("security.html", ctx))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct NameForm {
    csrf: String,
    name: String,
}

/// The id in a path of this page; anything else names nothing.
fn path_id(id: &str) -> Result<Id, WebError> {
    id.parse().map_err(|_| WebError::NotFound)
}

pub async fn rename_passkey(
    State(app): State<App>,
    current: Current,
    Path(id): Path<String>,
    Form(form): Form<NameForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let id = path_id(&id)?;
    let person = current.person.id;
    let store = app.store();
    if !store.passkeys_of(person).await?.iter().any(|p| p.id == id) {
        return Err(WebError::NotFound);
    }
    let name = passkey_name(&form.name).ok_or(WebError::BadRequest)?;

    store.rename_passkey(person, id, name).await?;
    security_event(&app, Some(person), "passkey_renamed", name).await;
    Ok(Redirect::to("/account/security?renamed=1").into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn remove_passkey(
    State(app): State<App>,
    current: Current,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let id = path_id(&id)?;

    let person = current.person.id;
    let removed = app.store().delete_passkey(person, id).await?;
    if removed.is_none() {
        let exists = app
            .store()
            .passkeys_of(person)
            .await?
            .iter()
            .any(|k| k.id == id);
        return Err(if exists {
            WebError::Conflict("last_second_factor")
        } else {
            WebError::NotFound
        });
    }
    security_event(&app, Some(person), "second_factor_removed", "passkey").await;
    Ok(Redirect::to("/account/security?removed=1").into_response())
}

pub async fn unlink_identity(
    State(app): State<App>,
    current: Current,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let id = path_id(&id)?;

    let person = current.person.id;
    let removed = app.store().unlink_identity(person, id).await?;
    let Some(removed) = removed else {
        return Err(WebError::NotFound);
    };
    let detail = format!("{}: self", removed.provider);
    security_event(&app, Some(person), "identity_unlinked", &detail).await;
    Ok(Redirect::to("/account/security?unlinked=1").into_response())
}

/// New recovery codes: the old ones stop working; the new ones are shown
/// once.
pub async fn new_recovery_codes(
    State(app): State<App>,
    current: Current,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;

    let person = current.person.id;
    let codes = auth::generate_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| auth::hash_recovery_code(c)).collect();
    app.store().replace_recovery_codes(person, &hashes).await?;
    security_event(&app, Some(person), "recovery_codes_replaced", "").await;
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        codes => codes,
    }};
    Ok(app.page("recovery_codes.html", ctx))
}

/// Setting up the app anew (a new phone, a lost one): a fresh secret to
/// scan; the old one works until the new one is confirmed.
pub async fn authenticator_page(
    State(app): State<App>,
    current: Current,
) -> Result<Response, WebError> {
    authenticator(&app, &current, None, StatusCode::OK).await
}

async fn authenticator(
    app: &App,
    current: &Current,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let extra = enrol_context(app, current.person.id, &current.session.token_hash).await?;
    let ctx = minijinja::context! { ..current.chrome(app), ..extra, ..minijinja::context! {
        action => "/account/authenticator",
        replacing => true,
        error => error,
    }};
    let mut page = app.page("enrol.html", ctx);
    *page.status_mut() = status;
    Ok(page)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

pub async fn replace_authenticator(
    State(app): State<App>,
    current: Current,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;

    let person = current.person.id;
    let pending = pending_secret(&app, &current.session.token_hash).await?;
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = pending.and_then(|s| s.verify(&code, now(), None).ok());
    let Some(step) = step else {
        return authenticator(
            &app,
            &current,
            Some("login.wrong_code"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let codes = auth::generate_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| auth::hash_recovery_code(c)).collect();
    let confirmed = app
        .store()
        .confirm_totp(
            person,
            &current.session.token_hash,
            TotpSetup::Replace,
            step,
            &hashes,
        )
        .await?;
    if !confirmed {
        return Err(WebError::Conflict("authenticator_changed"));
    }
    security_event(&app, Some(person), "second_factor_replaced", "totp").await;
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        codes => codes,
        replaced => true,
    }};
    Ok(app.page("recovery_codes.html", ctx))
}
