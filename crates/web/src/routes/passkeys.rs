//! Passkey ceremonies: registering one on the security page, and signing
//! in with one as the second factor. Each ceremony is two requests from
//! the page's script (WebAuthn needs JavaScript; the app's code works
//! without): `start` returns the options for the browser and keeps the
//! state with the session, `finish` verifies the browser's answer. Both
//! carry the session's CSRF token in a form body like every other post.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use ticketwerk_domain::auth::MAX_SECOND_FACTOR_FAILURES;
use ticketwerk_domain::{DomainError, Id};
use ticketwerk_identity::Passkeys;
use ticketwerk_storage::{SessionStage, StorageError};

use super::auth::{complete, end_pending, reserve_attempt, security_event};
use crate::i18n::{Lang, text};
use crate::session::{Current, Pending, now};
use crate::{App, WebError};

const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";
/// A ceremony must finish within this many seconds.
const CEREMONY_SECS: i64 = 5 * 60;
/// The longest name of a passkey.
pub const MAX_NAME: usize = 60;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CeremonyForm {
    csrf: String,
    name: String,
    credential: String,
}

/// A passkey's name as typed: trimmed, 1 to [`MAX_NAME`] characters, no
/// control characters.
pub fn passkey_name(raw: &str) -> Option<&str> {
    let name = raw.trim();
    let fits = !name.is_empty() && name.chars().count() <= MAX_NAME;
    (fits && !name.chars().any(char::is_control)).then_some(name)
}

fn passkeys(app: &App) -> Result<&Passkeys, WebError> {
    app.passkeys().ok_or(WebError::NotFound)
}

/// A refusal the page's script shows as it is.
fn refusal(lang: Lang, key: &str, status: StatusCode) -> Response {
    let body = serde_json::json!({ "error": text(lang, key) });
    (status, Json(body)).into_response()
}

async fn credentials_of(app: &App, person: Id) -> Result<Vec<String>, WebError> {
    Ok(app
        .store()
        .passkeys_of(person)
        .await?
        .into_iter()
        .map(|p| p.credential)
        .collect())
}

pub async fn register_start(
    State(app): State<App>,
    current: Current,
    Form(form): Form<CeremonyForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let passkeys = passkeys(&app)?;

    let existing = credentials_of(&app, current.person.id).await?;
    let (options, state) = passkeys
        .start_registration(
            current.person.id,
            current.person.email.as_str(),
            &current.person.name,
            &existing,
        )
        .map_err(|e| WebError::Internal(e.into()))?;
    app.store()
        .put_ceremony(&current.session.token_hash, REGISTER, &state, now())
        .await?;
    Ok(Json(options).into_response())
}

pub async fn register_finish(
    State(app): State<App>,
    current: Current,
    Form(form): Form<CeremonyForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let passkeys = passkeys(&app)?;
    let lang = current.lang;
    let Some(name) = passkey_name(&form.name) else {
        return Ok(refusal(
            lang,
            "security.passkey_name_invalid",
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };

    let state = app
        .store()
        .take_ceremony(&current.session.token_hash, REGISTER, now() - CEREMONY_SECS)
        .await?;
    let Some(state) = state else {
        return Ok(refusal(
            lang,
            "security.passkey_expired",
            StatusCode::CONFLICT,
        ));
    };
    let person = current.person.id;
    let new = match passkeys.finish_registration(&form.credential, &state) {
        Ok(new) => new,
        Err(e) => {
            security_event(&app, Some(person), "passkey_refused", &e.to_string()).await;
            return Ok(refusal(
                lang,
                "security.passkey_refused",
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    match app
        .store()
        .add_passkey(person, name, &new.credential_id, &new.credential, now())
        .await
    {
        Ok(_) => {}
        Err(StorageError::Domain(DomainError::Invalid(_))) => {
            return Ok(refusal(
                lang,
                "security.passkey_known",
                StatusCode::CONFLICT,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    security_event(&app, Some(person), "second_factor_enrolled", "passkey").await;
    Ok(Json(serde_json::json!({ "redirect": "/account/security?added=1" })).into_response())
}

pub async fn sign_in_start(
    State(app): State<App>,
    pending: Pending,
    Form(form): Form<CeremonyForm>,
) -> Result<Response, WebError> {
    pending.check_csrf(&form.csrf)?;
    let passkeys = passkeys(&app)?;
    if pending.session.stage != SessionStage::SecondFactor {
        return Err(WebError::NotFound);
    }

    let existing = credentials_of(&app, pending.session.person).await?;
    if existing.is_empty() {
        return Err(WebError::NotFound);
    }
    let (options, state) = passkeys
        .start_authentication(&existing)
        .map_err(|e| WebError::Internal(e.into()))?;
    app.store()
        .put_ceremony(&pending.session.token_hash, SIGN_IN, &state, now())
        .await?;
    Ok(Json(options).into_response())
}

pub async fn sign_in_finish(
    State(app): State<App>,
    pending: Pending,
    headers: HeaderMap,
    Form(form): Form<CeremonyForm>,
) -> Result<Response, WebError> {
    pending.check_csrf(&form.csrf)?;
    let passkeys = passkeys(&app)?;
    if pending.session.stage != SessionStage::SecondFactor {
        return Err(WebError::NotFound);
    }
    // Counted before it is looked at, like a code.
    let attempts = match reserve_attempt(&app, &pending).await? {
        Ok(used) => used,
        Err(page) => return Ok(to_sign_in(page)),
    };
    let person = pending.session.person;
    let state = app
        .store()
        .take_ceremony(&pending.session.token_hash, SIGN_IN, now() - CEREMONY_SECS)
        .await?;
    let Some(state) = state else {
        return Ok(refusal(
            pending.lang,
            "security.passkey_expired",
            StatusCode::CONFLICT,
        ));
    };

    let existing = credentials_of(&app, person).await?;
    let used = match passkeys.finish_authentication(&form.credential, &state, &existing) {
        Ok(used) => used,
        Err(e) => {
            let detail = e.to_string();
            security_event(&app, Some(person), "passkey_refused", &detail).await;
            return failed(&app, &pending, attempts).await;
        }
    };
    if let (credential_id, Some(updated)) = &used {
        app.store()
            .passkey_used(person, credential_id, updated, now())
            .await?;
    } else {
        // Most passkeys keep no counter; the use is recorded all the same.
        let stored = app.store().passkeys_of(person).await?;
        if let Some(p) = stored.iter().find(|p| p.credential_id == used.0) {
            app.store()
                .passkey_used(person, &p.credential_id, &p.credential, now())
                .await?;
        }
    }
    let cookie = complete(&app, &headers, person, "passkey").await?;
    security_event(&app, Some(person), "second_factor_passkey", "").await;
    let mut response = Json(serde_json::json!({ "redirect": "/" })).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A passkey that did not verify counts like a wrong code (it was
/// counted before); the fifth ends the sign-in.
async fn failed(app: &App, pending: &Pending, used: i64) -> Result<Response, WebError> {
    security_event(
        app,
        Some(pending.session.person),
        "second_factor_failed",
        "passkey",
    )
    .await;
    if used >= MAX_SECOND_FACTOR_FAILURES {
        let page = end_pending(
            app,
            pending,
            "second_factor_lockout",
            "login.too_many_codes",
            StatusCode::UNAUTHORIZED,
        )
        .await?;
        return Ok(to_sign_in(page));
    }
    Ok(refusal(
        pending.lang,
        "security.passkey_refused",
        StatusCode::UNAUTHORIZED,
    ))
}

/// The script follows a redirect to the sign-in page; the cookies the
/// page would have set (the session's end) come along.
fn to_sign_in(page: Response) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "redirect": "/login" })),
    )
        .into_response();
    for cookie in page.headers().get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_names_are_trimmed_and_bounded() {
        assert_eq!(passkey_name("  Dienst-Laptop "), Some("Dienst-Laptop"));
        assert_eq!(
            passkey_name(&"ä".repeat(MAX_NAME)).map(str::len),
            Some(2 * MAX_NAME)
        );
        for bad in ["", "   ", "a\u{0}b", "Zeile\nzwei"] {
            assert_eq!(passkey_name(bad), None, "{bad:?}");
        }
        assert_eq!(passkey_name(&"x".repeat(MAX_NAME + 1)), None);
    }
}
