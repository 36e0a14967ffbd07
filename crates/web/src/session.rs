//! Sessions: cookies, the signed-in person, CSRF tokens and expiry.
//!
//! The cookie holds a random token; the database holds its hash, the
//! person, how far sign-in has come and the CSRF token of the session. A
//! new token is issued after the password and again after the second
//! factor, so a token seen before sign-in is worth nothing after it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use minijinja::value::Value;
use subtle::ConstantTimeEq;
use ticketwerk_domain::auth::{hash_token, new_token};
use ticketwerk_domain::model::{BusinessPartner, Person};
use ticketwerk_domain::{Id, Timestamp, Viewer};
use ticketwerk_storage::{Session, SessionStage};

use crate::i18n::Lang;
use crate::render::request_lang;
use crate::{App, WebError};

pub const SESSION_COOKIE: &str = "tw_session";
pub const LOGIN_CSRF_COOKIE: &str = "tw_login";
pub const LANG_COOKIE: &str = "tw_lang";
/// A pending sign-in (password done, second factor due) lasts this long.
pub const PENDING_SECS: i64 = 10 * 60;

pub fn now() -> Timestamp {
    jiff::Timestamp::now().as_second()
}

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (so links from mail keep
/// the session), Secure unless told we run on plain HTTP on loopback.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if !app.settings().insecure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub fn clear_cookie(app: &App, name: &str) -> HeaderValue {
    set_cookie(app, name, "", Some(0))
}

/// Starts a session at a stage and returns the cookie to set. Any session
/// the request carried before is ended first.
pub async fn begin(
    app: &App,
    headers: &HeaderMap,
    person: Id,
    stage: SessionStage,
) -> Result<HeaderValue, WebError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        app.store().delete_session(&hash_token(&old)).await?;
    }
    let token = new_token();
    app.store()
        .create_session(&hash_token(&token), person, stage, &new_token(), now())
        .await?;
    Ok(set_cookie(app, SESSION_COOKIE, &token, None))
}

/// The session of the request, if it is still alive.
/// The person of the session these headers carry, at any stage; `None`
/// without one or when the database does not answer.
pub(crate) async fn session_of(app: &App, headers: &HeaderMap) -> Option<Id> {
    load(app, headers).await.ok().flatten().map(|s| s.person)
}

async fn load(app: &App, headers: &HeaderMap) -> Result<Option<Session>, WebError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    let Some(session) = app.store().session(&hash).await? else {
        return Ok(None);
    };
    let now = now();
    let s = app.settings();
    let limit = match session.stage {
        SessionStage::Full => s.session_idle_secs,
        _ => PENDING_SECS,
    };
    let expired =
        now - session.last_seen_at > limit || now - session.created_at > s.session_max_secs;
    if expired {
        app.store().delete_session(&hash).await?;
        tracing::info!(target: "security", event = "session_expired", person = session.person);
        return Ok(None);
    }
    Ok(Some(session))
}

fn csrf_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The signed-in person: both factors done, session alive.
pub struct Current {
    pub session: Session,
    pub viewer: Viewer,
    pub person: Person,
    /// The business partners the person belongs to, by name.
    pub partners: Vec<BusinessPartner>,
    pub lang: Lang,
}

impl FromRequestParts<App> for Current {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, WebError> {
        Current::from_headers(app, &parts.headers).await
    }
}

impl Current {
    /// The signed-in person of a request, from its session cookie.
    pub async fn from_headers(app: &App, headers: &HeaderMap) -> Result<Current, WebError> {
        let session = match load(app, headers).await? {
            Some(s) if s.stage == SessionStage::Full => s,
            _ => return Err(WebError::SignIn),
        };
        let now = now();
        let (viewer, person, partners) = app
            .store()
            .viewer_and_person(session.person, now)
            .await?
            .ok_or(WebError::SignIn)?;
        // `touch_session` writes at most once a minute; skipping the
        // statement in between keeps page views free of write locks.
        if now - session.last_seen_at >= 60 {
            app.store().touch_session(&session.token_hash, now).await?;
        }
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(|v| Lang::parse(&v))
            .or_else(|| Lang::parse(&person.language))
            .unwrap_or_else(|| request_lang(headers));
        Ok(Current {
            session,
            viewer,
            person,
            partners,
            lang,
        })
    }
}

impl Current {
    /// Every state change carries the session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), WebError> {
        if csrf_matches(&self.session.csrf_token, given) {
            Ok(())
        } else {
            Err(WebError::CsrfRefused(self.person.id))
        }
    }

    /// The shared page context with the person and the CSRF token.
    pub fn chrome(&self, app: &App) -> Value {
        minijinja::context! {
            ..app.chrome(self.lang),
            ..minijinja::context! {
                user => minijinja::context! {
                    name => self.person.name,
                    email => self.person.email,
                    agent => self.viewer.agent,
                },
                csrf => self.session.csrf_token,
                may_create_for_others => self.viewer.may_report_for_others(),
            }
        }
    }
}

/// A sign-in between the password and the second factor.
pub struct Pending {
    pub session: Session,
    pub lang: Lang,
}

impl FromRequestParts<App> for Pending {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, WebError> {
        match load(app, &parts.headers).await? {
            Some(session) if session.stage != SessionStage::Full => {
                // The person is known from here on: their language, unless
                // they chose one on this browser.
                let chosen = cookie(&parts.headers, LANG_COOKIE).and_then(|v| Lang::parse(&v));
                let own = match chosen {
                    Some(lang) => Some(lang),
                    None => app
                        .store()
                        .person(session.person)
                        .await?
                        .and_then(|p| Lang::parse(&p.language)),
                };
                let lang = own.unwrap_or_else(|| request_lang(&parts.headers));
                Ok(Pending { session, lang })
            }
            _ => Err(WebError::SignIn),
        }
    }
}

impl Pending {
    pub fn check_csrf(&self, given: &str) -> Result<(), WebError> {
        if csrf_matches(&self.session.csrf_token, given) {
            Ok(())
        } else {
            Err(WebError::CsrfRefused(self.session.person))
        }
    }
}

/// Checks the double-submit token of the sign-in form, which is sent
/// before any session exists.
pub fn check_login_csrf(headers: &HeaderMap, given: &str) -> Result<(), WebError> {
    match cookie(headers, LOGIN_CSRF_COOKIE) {
        Some(expected) if csrf_matches(&expected, given) => Ok(()),
        _ => Err(WebError::Forbidden),
    }
}

/// Removes expired sessions now and then, so the table stays small.
pub async fn sweep_expired(app: App) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let now = now();
        let s = app.settings();
        let idle = now - s.session_idle_secs.max(PENDING_SECS);
        if let Err(e) = app
            .store()
            .purge_sessions(idle, now - s.session_max_secs)
            .await
        {
            tracing::warn!(error = ?e, "purging sessions failed");
        }
        // Sign-ins at a provider and passkey ceremonies that were begun
        // and never finished; both are refused long before this.
        let store = app.store();
        if let Err(e) = store.purge_oidc_flows(now - PENDING_SECS).await {
            tracing::warn!(error = ?e, "purging OIDC sign-ins failed");
        }
        if let Err(e) = store.purge_ceremonies(now - PENDING_SECS).await {
            tracing::warn!(error = ?e, "purging passkey ceremonies failed");
        }
    }
}

impl axum::extract::OptionalFromRequestParts<App> for Current {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Option<Self>, WebError> {
        match <Current as FromRequestParts<App>>::from_request_parts(parts, app).await {
            Ok(c) => Ok(Some(c)),
            Err(WebError::SignIn) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
