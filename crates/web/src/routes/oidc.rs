//! Sign-in through an OpenID Connect provider, and linking one's own
//! account at a provider the desk invited one to.
//!
//! The start stores the flow (state, nonce, PKCE verifier) in the
//! database, bound to this browser by a cookie; the callback takes it
//! once. A token that proves a second factor signs the person in; one
//! that does not leads to the portal's own second factor. A person is
//! found by the provider's subject only, never by email, and an unknown
//! identity gets a page that says whom to ask, not an account.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::auth::{hash_token, new_token};
use ticketwerk_domain::identity::IdentityRefusal;
use ticketwerk_domain::{DomainError, Id};
use ticketwerk_identity::{OidcError, OidcProvider};
use ticketwerk_storage::{OidcFlow, StorageError};

use super::auth::{complete, login_form, second_step, security_event};
use crate::render::request_lang;
use crate::session::{self, Current, now};
use crate::{App, WebError};

/// The cookie that binds a started sign-in to the browser.
const FLOW_COOKIE: &str = "tw_oidc";
/// A started sign-in must come back within this many seconds.
const FLOW_SECS: i64 = 10 * 60;

#[derive(serde::Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
}

/// Starts a sign-in at a provider: from the sign-in page, whose
/// double-submit token it carries.
pub async fn start(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, WebError> {
    session::check_login_csrf(&headers, &form.csrf)?;
    let provider = app.provider(&name).ok_or(WebError::NotFound)?;
    redirect_to_provider(&app, &headers, provider, None).await
}

/// Starts linking the signed-in person's account at a provider; only
/// while the desk's invitation stands.
pub async fn link(
    State(app): State<App>,
    current: Current,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let provider = app.provider(&name).ok_or(WebError::NotFound)?;
    let invited = app
        .store()
        .invitations_of(current.person.id, now())
        .await?
        .iter()
        .any(|(p, _)| *p == name);
    if !invited {
        return Err(WebError::NotFound);
    }
    redirect_to_provider(&app, &headers, provider, Some(current.person.id)).await
}

async fn redirect_to_provider(
    app: &App,
    headers: &HeaderMap,
    provider: &OidcProvider,
    link_person: Option<Id>,
) -> Result<Response, WebError> {
    let started = match provider.start(None).await {
        Ok(s) => s,
        Err(e) => return Ok(refused(app, headers, &provider.config().name, &e).await),
    };
    let browser = new_token();
    let flow = OidcFlow {
        provider: provider.config().name.clone(),
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        link_person,
        created_at: now(),
    };
    app.store()
        .create_oidc_flow(&hash_token(&started.state), &hash_token(&browser), &flow)
        .await?;
    let mut response = Redirect::to(started.url.as_str()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(app, FLOW_COOKIE, &browser, Some(FLOW_SECS)),
    );
    Ok(response)
}

#[derive(serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider sends the browser back here with a code, or an error.
pub async fn callback(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Result<Response, WebError> {
    let provider = app.provider(&name).ok_or(WebError::NotFound)?;
    let mut response = finish(&app, &headers, provider, query).await?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(&app, FLOW_COOKIE));
    Ok(response)
}

async fn finish(
    app: &App,
    headers: &HeaderMap,
    provider: &OidcProvider,
    query: Callback,
) -> Result<Response, WebError> {
    let name = &provider.config().name;
    // The flow is taken first, so a state is good for one try only.
    let browser = session::cookie(headers, FLOW_COOKIE).unwrap_or_default();
    let flow = match &query.state {
        Some(state) => {
            app.store()
                .take_oidc_flow(&hash_token(state), &hash_token(&browser), now() - FLOW_SECS)
                .await?
        }
        None => None,
    };
    let Some(flow) = flow.filter(|f| f.provider == *name) else {
        security_event(app, None, "oidc_state_refused", name).await;
        return Ok(message(
            app,
            headers,
            "login.oidc_expired",
            StatusCode::BAD_REQUEST,
        ));
    };
    if let Some(error) = &query.error {
        let detail = format!("{name}: {}", clip(error));
        security_event(app, flow.link_person, "oidc_cancelled", &detail).await;
        return Ok(message(
            app,
            headers,
            "login.oidc_cancelled",
            StatusCode::UNAUTHORIZED,
        ));
    }
    let Some(code) = &query.code else {
        return Ok(message(
            app,
            headers,
            "login.oidc_cancelled",
            StatusCode::UNAUTHORIZED,
        ));
    };
    let (claims, policy) = match provider
        .finish(code, &flow.nonce, &flow.pkce_verifier, now())
        .await
    {
        Ok(verified) => verified,
        Err(e) => return Ok(refused(app, headers, name, &e).await),
    };
    let assessment = match policy.assess(&claims) {
        Ok(a) => a,
        Err(refusal) => {
            let detail = format!("{name}: {}", refusal.code());
            security_event(app, None, "oidc_sign_in_refused", &detail).await;
            let key = match refusal {
                IdentityRefusal::TenantNotAllowed | IdentityRefusal::ConsumerAccount => {
                    "login.oidc_tenant"
                }
                _ => "login.oidc_refused",
            };
            return Ok(message(app, headers, key, StatusCode::UNAUTHORIZED));
        }
    };
    let label = claims.email.clone().unwrap_or_default();
    let subject = assessment.subject.as_str();
    if let Some(person) = flow.link_person {
        return link_own(app, headers, person, name, subject, &label).await;
    }
    let store = app.store();
    let person = store.use_identity(name, subject, &label, now()).await?;
    let credentials = match person {
        Some(id) => store.credentials_by_id(id).await?,
        None => None,
    };
    let Some(c) = credentials.filter(|c| c.person.active) else {
        let event = match person {
            Some(_) => "oidc_person_inactive",
            None => "oidc_unknown_identity",
        };
        // Whom the desk would link: the subject, and the email the
        // provider names (shown, never trusted).
        let detail = format!("{name}: {subject} {label}");
        security_event(app, person, event, detail.trim_end()).await;
        return Ok(no_access(app, headers, provider));
    };
    if assessment.second_factor {
        let cookie = complete(app, headers, c.person.id, &format!("{name}: mfa")).await?;
        security_event(
            app,
            Some(c.person.id),
            "oidc_sign_in",
            &format!("{name}: mfa"),
        )
        .await;
        let mut response = Redirect::to("/").into_response();
        response.headers_mut().append(header::SET_COOKIE, cookie);
        return Ok(response);
    }
    // One factor proven: the portal asks for its own second one.
    security_event(app, Some(c.person.id), "oidc_first_factor", name).await;
    second_step(app, headers, &c, false).await
}

/// Links the identity to the person who started the linking, if that
/// person is still the one signed in on this browser.
async fn link_own(
    app: &App,
    headers: &HeaderMap,
    person: Id,
    provider: &str,
    subject: &str,
    label: &str,
) -> Result<Response, WebError> {
    let current = Current::from_headers(app, headers).await;
    if current.as_ref().map_or(true, |c| c.person.id != person) {
        security_event(
            app,
            Some(person),
            "identity_link_refused",
            "another session",
        )
        .await;
        return Ok(message(
            app,
            headers,
            "login.link_other_session",
            StatusCode::FORBIDDEN,
        ));
    }
    match app
        .store()
        .link_identity(person, provider, subject, label, None, now())
        .await
    {
        Ok(_) => {
            security_event(
                app,
                Some(person),
                "identity_linked",
                &format!("{provider}: self"),
            )
            .await;
            Ok(Redirect::to("/account/security?linked=1").into_response())
        }
        Err(StorageError::Domain(DomainError::Invalid(_))) => {
            security_event(app, Some(person), "identity_link_refused", provider).await;
            Ok(Redirect::to("/account/security?taken=1").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A provider's answer that signs no one in: recorded, and the sign-in
/// page with what the person can do.
async fn refused(app: &App, headers: &HeaderMap, provider: &str, e: &OidcError) -> Response {
    tracing::warn!(target: "security", provider, error = %e, "identity provider sign-in failed");
    let detail = format!("{provider}: {}", e.code());
    security_event(app, None, "oidc_sign_in_refused", &detail).await;
    match e {
        OidcError::Unreachable(_) | OidcError::Metadata(_) => message(
            app,
            headers,
            "login.provider_unreachable",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        _ => message(app, headers, "login.oidc_refused", StatusCode::UNAUTHORIZED),
    }
}

fn message(app: &App, headers: &HeaderMap, key: &str, status: StatusCode) -> Response {
    login_form(app, request_lang(headers), "", Some(key), status)
}

/// An identity no person is linked to: no account is made; the page says
/// whom to ask.
fn no_access(app: &App, headers: &HeaderMap, provider: &OidcProvider) -> Response {
    let lang = request_lang(headers);
    let ctx = minijinja::context! { ..app.chrome(lang), ..minijinja::context! {
        provider_label => provider.config().label,
    }};
    let mut page = app.page("no_access.html", ctx);
    *page.status_mut() = StatusCode::FORBIDDEN;
    page
}

/// At most 64 characters of a provider's error code, for the audit log.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}
