//! Sign-in: password, then a TOTP code (or enrolment at first sign-in),
//! each step on a fresh session token; logout.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::auth::{
    self, MAX_SECOND_FACTOR_FAILURES, THROTTLE_ACCOUNT_ADDRESS, THROTTLE_ADDRESS,
    THROTTLE_SECOND_FACTOR, TotpSecret,
};
use ticketwerk_domain::{Email, Id};
use ticketwerk_storage::{Credentials, SessionStage, TotpSetup};

use crate::i18n::Lang;
use crate::render::request_lang;
use crate::session::{self, Current, LOGIN_CSRF_COOKIE, Pending, now};
use crate::{App, WebError};

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) csrf: String,
}

/// Records a security event in the audit log and the structured log.
pub(crate) async fn security_event(
    app: &App,
    person: Option<Id>,
    event: &'static str,
    detail: &str,
) {
    tracing::info!(target: "security", event, person, detail);
    if let Err(e) = app.store().audit(now(), person, event, detail).await {
        tracing::error!(error = ?e, event, "writing the audit log failed");
    }
}

pub(crate) fn login_form(
    app: &App,
    lang: Lang,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = auth::new_token();
    let providers: Vec<minijinja::Value> = app
        .providers()
        .iter()
        .map(|p| {
            let c = p.config();
            minijinja::context! { name => c.name, label => c.label }
        })
        .collect();
    let ctx = minijinja::context! { ..app.chrome(lang), ..minijinja::context! {
        login_csrf => token,
        email => email,
        error => error,
        providers => providers,
        local => app.settings().local_sign_in,
    }};
    let mut page = app.page("login.html", ctx);
    *page.status_mut() = status;
    page.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(app, LOGIN_CSRF_COOKIE, &token, None),
    );
    page
}

pub async fn login_page(
    State(app): State<App>,
    current: Option<Current>,
    headers: HeaderMap,
) -> Response {
    if current.is_some() {
        return Redirect::to("/").into_response();
    }
    login_form(&app, request_lang(&headers), "", None, StatusCode::OK)
}

pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    session::check_login_csrf(&headers, &form.csrf)?;
    // Without the password form there is no password sign-in either.
    if !app.settings().local_sign_in {
        return Err(WebError::NotFound);
    }
    let lang = request_lang(&headers);
    let now = now();
    let address_key = format!("address:{}", peer.ip());
    let pair_key = format!("account:{}|{}", form.email.trim().to_lowercase(), peer.ip());
    let store = app.store();
    let credentials = match Email::parse(&form.email) {
        Ok(email) => store.credentials(&email).await?,
        Err(_) => None,
    };
    // A failure against an existing account is that person's business:
    // it shows in their security log (never whether the address exists,
    // which no answer here tells).
    let account = credentials.as_ref().map(|c| c.person.id);
    let blocked = match store
        .throttled_until(&address_key, THROTTLE_ADDRESS, now)
        .await?
    {
        Some(until) => Some(until),
        None => {
            store
                .throttled_until(&pair_key, THROTTLE_ACCOUNT_ADDRESS, now)
                .await?
        }
    };
    if blocked.is_some() {
        security_event(&app, account, "sign_in_throttled", &peer.ip().to_string()).await;
        return Ok(login_form(
            &app,
            lang,
            &form.email,
            Some("login.throttled"),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let hash = credentials
        .as_ref()
        .and_then(|c| c.password_hash.as_deref());
    // Verify against a dummy hash for unknown accounts, so the answer
    // takes as long either way.
    let password_ok =
        auth::verify_password(&form.password, hash.unwrap_or(auth::dummy_password_hash()))
            && hash.is_some();
    let person = credentials.filter(|c| password_ok && c.person.active);
    let Some(c) = person else {
        store
            .record_failure(&address_key, THROTTLE_ADDRESS, now)
            .await?;
        store
            .record_failure(&pair_key, THROTTLE_ACCOUNT_ADDRESS, now)
            .await?;
        security_event(&app, account, "sign_in_failed", &peer.ip().to_string()).await;
        return Ok(login_form(
            &app,
            lang,
            &form.email,
            Some("login.failed"),
            StatusCode::UNAUTHORIZED,
        ));
    };
    store.clear_failures(&pair_key).await?;
    security_event(&app, Some(c.person.id), "password_accepted", "").await;
    let mut response = second_step(&app, &headers, &c, true).await?;
    response.headers_mut().append(
        header::SET_COOKIE,
        session::clear_cookie(&app, LOGIN_CSRF_COOKIE),
    );
    Ok(response)
}

/// After the first factor (a password, or a provider's sign-in that
/// proved no second one): a pending session at the second step, or at
/// enrolment for a person who has no second factor yet.
///
/// Setting a second factor up on the strength of the first alone is what
/// the portal's initial password is for (`may_enrol`); after a provider's
/// sign-in that proved one factor, a person without a second factor is
/// refused instead, or whoever holds that one password would choose it.
pub(crate) async fn second_step(
    app: &App,
    headers: &HeaderMap,
    c: &Credentials,
    may_enrol: bool,
) -> Result<Response, WebError> {
    let (stage, next) = if has_second_factor(app, c).await? {
        (SessionStage::SecondFactor, "/login/second-factor")
    } else if may_enrol {
        (SessionStage::Enrol, "/login/enrol")
    } else {
        security_event(app, Some(c.person.id), "enrolment_refused", "one factor").await;
        let lang = request_lang(headers);
        let page = login_form(
            app,
            lang,
            "",
            Some("login.no_second_factor_yet"),
            StatusCode::FORBIDDEN,
        );
        return Ok(page);
    };
    let cookie = session::begin(app, headers, c.person.id, stage).await?;
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

fn code_page(
    app: &App,
    pending: &Pending,
    template: &str,
    extra: minijinja::Value,
    status: StatusCode,
) -> Response {
    let ctx = minijinja::context! { ..app.chrome(pending.lang), ..minijinja::context! {
        csrf => pending.session.csrf_token,
    }, ..extra };
    let mut page = app.page(template, ctx);
    *page.status_mut() = status;
    page
}

pub async fn second_factor_page(
    State(app): State<App>,
    pending: Pending,
) -> Result<Response, WebError> {
    if pending.session.stage != SessionStage::SecondFactor {
        return Ok(Redirect::to("/login/enrol").into_response());
    }
    let extra = second_factor_context(&app, pending.session.person).await?;
    Ok(code_page(
        &app,
        &pending,
        "second_factor.html",
        extra,
        StatusCode::OK,
    ))
}

/// Which second factors the page offers: the app's code (and recovery
/// codes) when the person has the app, a passkey when they have one.
async fn second_factor_context(app: &App, person: Id) -> Result<minijinja::Value, WebError> {
    let store = app.store();
    let totp = store
        .credentials_by_id(person)
        .await?
        .is_some_and(|c| c.totp_secret.is_some());
    let passkey = app.passkeys().is_some() && !store.passkeys_of(person).await?.is_empty();
    Ok(minijinja::context! { totp => totp, passkey => passkey })
}

/// A wrong second factor, already counted by [`reserve_attempt`]: the
/// page again with the attempts left, or the end of the sign-in after the
/// fifth.
pub(crate) async fn wrong_code(
    app: &App,
    pending: &Pending,
    template: &str,
    extra: minijinja::Value,
    used: i64,
    error: &str,
) -> Result<Response, WebError> {
    security_event(
        app,
        Some(pending.session.person),
        "second_factor_failed",
        "",
    )
    .await;
    if used >= MAX_SECOND_FACTOR_FAILURES {
        return end_pending(
            app,
            pending,
            "second_factor_lockout",
            "login.too_many_codes",
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let extra = minijinja::context! { ..extra, ..minijinja::context! {
        error => error,
        attempts_left => MAX_SECOND_FACTOR_FAILURES - used,
    }};
    Ok(code_page(
        app,
        pending,
        template,
        extra,
        StatusCode::UNAUTHORIZED,
    ))
}

pub(crate) fn second_factor_key(person: Id) -> String {
    format!("second-factor:{person}")
}

/// Counts an attempt at a second factor before it is looked at: on the
/// pending sign-in (five each) and for the person (ten a quarter of an
/// hour, whichever sign-in they come from). Counting first, each in one
/// statement, means guesses sent at the same moment are each counted as
/// they come rather than all after the check. A right answer clears the
/// person's count ([`complete`]). The attempts used on this sign-in, or
/// the answer that ends it.
pub(crate) async fn reserve_attempt(
    app: &App,
    pending: &Pending,
) -> Result<Result<i64, Response>, WebError> {
    let store = app.store();
    let used = store
        .count_second_factor_failure(&pending.session.token_hash)
        .await?;
    if used > MAX_SECOND_FACTOR_FAILURES {
        let page = end_pending(
            app,
            pending,
            "second_factor_lockout",
            "login.too_many_codes",
            StatusCode::UNAUTHORIZED,
        );
        return Ok(Err(page.await?));
    }
    let key = second_factor_key(pending.session.person);
    let lately = store
        .record_failure(&key, THROTTLE_SECOND_FACTOR, now())
        .await?;
    if lately > THROTTLE_SECOND_FACTOR.max_failures {
        let page = end_pending(
            app,
            pending,
            "second_factor_throttled",
            "login.second_factor_throttled",
            StatusCode::TOO_MANY_REQUESTS,
        );
        return Ok(Err(page.await?));
    }
    Ok(Ok(used))
}

/// Ends a pending sign-in: the session goes, the event is recorded, and
/// the person is back at the sign-in form with the reason, in their
/// language.
pub(crate) async fn end_pending(
    app: &App,
    pending: &Pending,
    event: &'static str,
    message: &str,
    status: StatusCode,
) -> Result<Response, WebError> {
    app.store()
        .delete_session(&pending.session.token_hash)
        .await?;
    security_event(app, Some(pending.session.person), event, "").await;
    let mut page = login_form(app, pending.lang, "", Some(message), status);
    page.headers_mut().append(
        header::SET_COOKIE,
        session::clear_cookie(app, session::SESSION_COOKIE),
    );
    Ok(page)
}

/// Both factors done: a new session token at full stage. `how` names the
/// second factor for the security log (`totp`, `recovery_code`,
/// `passkey`, `enrolment`, or the provider that proved both).
pub(crate) async fn complete(
    app: &App,
    headers: &HeaderMap,
    person: Id,
    how: &str,
) -> Result<axum::http::HeaderValue, WebError> {
    let cookie = session::begin(app, headers, person, SessionStage::Full).await?;
    app.store()
        .clear_failures(&second_factor_key(person))
        .await?;
    security_event(app, Some(person), "sign_in", how).await;
    Ok(cookie)
}

/// The checks before a second factor is looked at, the same for a code
/// and for enrolment: the form's token, the right step (else to it), the
/// attempt counted. Then the person's credentials and the attempts used,
/// or the response to give.
pub(crate) async fn pending_step(
    app: &App,
    pending: &Pending,
    form: &CodeForm,
    stage: SessionStage,
) -> Result<Result<(Credentials, i64), Response>, WebError> {
    pending.check_csrf(&form.csrf)?;
    if pending.session.stage != stage {
        let other = match pending.session.stage {
            SessionStage::Enrol => "/login/enrol",
            _ => "/login/second-factor",
        };
        return Ok(Err(Redirect::to(other).into_response()));
    }
    let used = match reserve_attempt(app, pending).await? {
        Ok(used) => used,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let credentials = app
        .store()
        .credentials_by_id(pending.session.person)
        .await?
        .ok_or(WebError::SignIn)?;
    Ok(Ok((credentials, used)))
}

pub async fn second_factor(
    State(app): State<App>,
    pending: Pending,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    let (c, used) = match pending_step(&app, &pending, &form, SessionStage::SecondFactor).await? {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let person = pending.session.person;
    let secret = c.totp_secret.as_deref().and_then(TotpSecret::from_base32);
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let mut recovered = false;
    let mut error = "login.wrong_code";
    let accepted = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        match secret.map(|s| s.verify(&code, now(), c.totp_last_step)) {
            Some(Ok(step)) => app.store().claim_totp_step(person, step).await?,
            Some(Err(auth::TotpRefusal::Replayed)) => {
                security_event(&app, Some(person), "totp_replay_refused", "").await;
                error = "login.code_used";
                false
            }
            Some(Err(auth::TotpRefusal::Wrong)) | None => false,
        }
    } else {
        let used = app
            .store()
            .use_recovery_code(person, &auth::hash_recovery_code(&code), now())
            .await?;
        if used {
            let left = app.store().unused_recovery_codes(person).await?;
            security_event(
                &app,
                Some(person),
                "recovery_code_used",
                &format!("left={left}"),
            )
            .await;
            recovered = true;
        }
        used
    };
    if !accepted {
        let extra = second_factor_context(&app, person).await?;
        return wrong_code(&app, &pending, "second_factor.html", extra, used, error).await;
    }
    let how = if recovered { "recovery_code" } else { "totp" };
    let cookie = complete(&app, &headers, person, how).await?;
    // After a recovery code: what to do next, on the security page.
    let next = if recovered {
        "/account/security?recovered=1"
    } else {
        "/"
    };
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The secret the session `token_hash` is setting up, if any.
pub(crate) async fn pending_secret(
    app: &App,
    token_hash: &str,
) -> Result<Option<TotpSecret>, WebError> {
    Ok(app
        .store()
        .pending_totp(token_hash)
        .await?
        .as_deref()
        .and_then(TotpSecret::from_base32))
}

/// The enrolment page: a QR code of the secret and the secret as text.
/// The secret belongs to this session alone (`token_hash`): another
/// sign-in of the same person gets one of its own.
pub(crate) async fn enrol_context(
    app: &App,
    person: Id,
    token_hash: &str,
) -> Result<minijinja::Value, WebError> {
    let c = app
        .store()
        .credentials_by_id(person)
        .await?
        .ok_or(WebError::SignIn)?;
    let secret = match pending_secret(app, token_hash).await? {
        Some(s) => s,
        None => {
            let s = TotpSecret::generate();
            app.store()
                .set_pending_totp(token_hash, &s.to_base32())
                .await?;
            s
        }
    };
    let uri = secret.otpauth_uri(&app.settings().provider_name, c.person.email.as_str());
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| WebError::Internal(anyhow::anyhow!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .build();
    let svg = svg
        .find("<svg")
        .map(|i| svg[i..].to_string())
        .unwrap_or_default();
    let base32 = secret.to_base32();
    let grouped: Vec<String> = base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(minijinja::context! {
        qr_svg => minijinja::Value::from_safe_string(svg),
        secret => grouped.join(" "),
        account => c.person.email,
    })
}

/// Whether the person has a second factor: an authenticator app or a
/// passkey. Without one, a sign-in leads to enrolment.
async fn has_second_factor(app: &App, c: &Credentials) -> Result<bool, WebError> {
    Ok(c.totp_secret.is_some() || !app.store().passkeys_of(c.person.id).await?.is_empty())
}

/// Enrolment is for a person without any second factor. A sign-in that
/// waited at this step while the person set one up elsewhere ends: it
/// must not replace that factor on the strength of the password.
async fn enrolment_closed(app: &App, pending: &Pending) -> Result<Option<Response>, WebError> {
    let c = app
        .store()
        .credentials_by_id(pending.session.person)
        .await?
        .ok_or(WebError::SignIn)?;
    if !has_second_factor(app, &c).await? {
        return Ok(None);
    }
    let ended = end_pending(
        app,
        pending,
        "enrolment_refused",
        "login.enrolment_closed",
        StatusCode::CONFLICT,
    )
    .await?;
    Ok(Some(ended))
}

pub async fn enrol_page(State(app): State<App>, pending: Pending) -> Result<Response, WebError> {
    if pending.session.stage != SessionStage::Enrol {
        return Ok(Redirect::to("/login/second-factor").into_response());
    }
    if let Some(ended) = enrolment_closed(&app, &pending).await? {
        return Ok(ended);
    }
    let extra = enrol_context(&app, pending.session.person, &pending.session.token_hash).await?;
    Ok(code_page(
        &app,
        &pending,
        "enrol.html",
        extra,
        StatusCode::OK,
    ))
}

pub async fn enrol(
    State(app): State<App>,
    pending: Pending,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    let (_, used) = match pending_step(&app, &pending, &form, SessionStage::Enrol).await? {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    if let Some(ended) = enrolment_closed(&app, &pending).await? {
        return Ok(ended);
    }
    let person = pending.session.person;
    let token_hash = &pending.session.token_hash;
    let secret = pending_secret(&app, token_hash).await?;
    let step = secret.and_then(|s| s.verify(&form.code, now(), None).ok());
    let Some(step) = step else {
        let extra = enrol_context(&app, person, token_hash).await?;
        return wrong_code(
            &app,
            &pending,
            "enrol.html",
            extra,
            used,
            "login.wrong_code",
        )
        .await;
    };
    let codes = auth::generate_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| auth::hash_recovery_code(c)).collect();
    let confirmed = app
        .store()
        .confirm_totp(person, token_hash, TotpSetup::First, step, &hashes)
        .await?;
    if !confirmed {
        // The person set up a factor between the check above and now.
        return end_pending(
            &app,
            &pending,
            "enrolment_refused",
            "login.enrolment_closed",
            StatusCode::CONFLICT,
        )
        .await;
    }
    security_event(&app, Some(person), "second_factor_enrolled", "totp").await;
    let cookie = complete(&app, &headers, person, "enrolment").await?;
    let ctx = minijinja::context! { ..app.chrome(pending.lang), ..minijinja::context! {
        codes => codes,
    }};
    let mut page = app.page("recovery_codes.html", ctx);
    page.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(page)
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(app): State<App>,
    current: Current,
    Form(form): Form<LogoutForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    app.store()
        .delete_session(&current.session.token_hash)
        .await?;
    security_event(&app, Some(current.person.id), "sign_out", "").await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::clear_cookie(&app, session::SESSION_COOKIE),
    );
    // The sign-in page after it stays in the person's language, whatever
    // the browser prefers.
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            &app,
            session::LANG_COOKIE,
            current.lang.code(),
            Some(365 * 86_400),
        ),
    );
    Ok(response)
}
