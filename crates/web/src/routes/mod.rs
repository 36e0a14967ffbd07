//! The router: every route of the product in one list.

mod account;
pub(crate) mod auth;
mod desk;
mod health;
mod import;
mod oidc;
mod passkeys;
mod portal;
mod report;
mod services;
mod tickets;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::App;

/// Every route and the method it answers, in one list: the router is
/// built from it, and the authorisation tests walk it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static/{file}"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/second-factor"),
    ("POST", "/login/second-factor"),
    ("GET", "/login/enrol"),
    ("POST", "/login/enrol"),
    ("POST", "/login/oidc/{provider}"),
    ("GET", "/login/oidc/{provider}/callback"),
    ("POST", "/login/passkey/start"),
    ("POST", "/login/passkey/finish"),
    ("GET", "/account/security"),
    ("POST", "/account/passkeys/start"),
    ("POST", "/account/passkeys/finish"),
    ("POST", "/account/passkeys/{id}"),
    ("POST", "/account/passkeys/{id}/delete"),
    ("POST", "/account/identities/{id}/delete"),
    ("POST", "/account/identities/link/{provider}"),
    ("POST", "/account/recovery-codes"),
    ("GET", "/account/authenticator"),
    ("POST", "/account/authenticator"),
    ("POST", "/logout"),
    ("GET", "/language/{lang}"),
    ("GET", "/privacy"),
    ("GET", "/"),
    ("GET", "/catalog/{name}"),
    ("GET", "/tickets/new"),
    ("POST", "/tickets/new"),
    ("GET", "/tickets/new-for-someone"),
    ("POST", "/tickets/new-for-someone"),
    ("GET", "/pickers/{kind}"),
    ("GET", "/desk/import"),
    ("POST", "/desk/import"),
    ("GET", "/desk/import/template/{file}"),
    ("GET", "/services"),
    ("GET", "/services/{id}"),
    ("GET", "/tickets/{number}"),
    ("POST", "/tickets/{number}/entries"),
    ("GET", "/tickets/{number}/edit"),
    ("POST", "/tickets/{number}/edit"),
    ("POST", "/tickets/{number}/system"),
    ("POST", "/tickets/{number}/classify"),
    ("POST", "/tickets/{number}/status"),
    ("GET", "/tickets/{number}/attachments/{id}"),
    ("GET", "/desk/partners"),
    ("GET", "/desk/partners/new"),
    ("POST", "/desk/partners/new"),
    ("GET", "/desk/partners/{id}"),
    ("POST", "/desk/partners/{id}"),
    ("POST", "/desk/partners/{id}/units"),
    ("POST", "/desk/partners/{id}/units/{unit}/delete"),
    ("POST", "/desk/partners/{id}/contracts"),
    ("POST", "/desk/partners/{id}/services"),
    ("POST", "/desk/partners/{id}/systems"),
    ("GET", "/desk/persons"),
    ("GET", "/desk/persons/new"),
    ("POST", "/desk/persons/new"),
    ("GET", "/desk/persons/{id}"),
    ("POST", "/desk/persons/{id}"),
    ("POST", "/desk/persons/{id}/memberships"),
    ("POST", "/desk/persons/{id}/memberships/{partner}/delete"),
    ("POST", "/desk/persons/{id}/password"),
    ("POST", "/desk/persons/{id}/identities"),
    ("POST", "/desk/persons/{id}/identities/{identity}/delete"),
    ("POST", "/desk/persons/{id}/invitations"),
    ("GET", "/desk/audit"),
    ("GET", "/desk/contracts/{id}"),
    ("POST", "/desk/contracts/{id}"),
    ("POST", "/desk/contracts/{id}/authorisations"),
    ("POST", "/desk/authorisations/{id}"),
    ("POST", "/desk/authorisations/{id}/end"),
    ("GET", "/desk/services/{id}"),
    ("POST", "/desk/services/{id}"),
    ("GET", "/desk/systems/{id}"),
    ("POST", "/desk/systems/{id}"),
    ("GET", "/desk/mail"),
    ("GET", "/desk/mail/{id}"),
    ("GET", "/desk/mail/{id}/raw"),
    ("POST", "/desk/mail/{id}/retry"),
    ("POST", "/desk/mail/{id}/accept"),
    ("POST", "/desk/mail/{id}/discard"),
    ("POST", "/desk/mail/{id}/attach"),
];

pub fn router(app: App) -> Router {
    // Room for several attachments of the configured size plus the form.
    let upload_limit = app.settings().max_attachment_bytes.saturating_mul(10) + (1 << 20);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{file}", get(portal::static_file))
        .route("/login", get(auth::login_page).post(auth::login))
        .route(
            "/login/second-factor",
            get(auth::second_factor_page).post(auth::second_factor),
        )
        .route("/login/enrol", get(auth::enrol_page).post(auth::enrol))
        .route("/login/oidc/{provider}", post(oidc::start))
        .route("/login/oidc/{provider}/callback", get(oidc::callback))
        .route("/login/passkey/start", post(passkeys::sign_in_start))
        .route("/login/passkey/finish", post(passkeys::sign_in_finish))
        .route("/account/security", get(account::page))
        .route("/account/passkeys/start", post(passkeys::register_start))
        .route("/account/passkeys/finish", post(passkeys::register_finish))
        .route("/account/passkeys/{id}", post(account::rename_passkey))
        .route(
            "/account/passkeys/{id}/delete",
            post(account::remove_passkey),
        )
        .route(
            "/account/identities/{id}/delete",
            post(account::unlink_identity),
        )
        .route("/account/identities/link/{provider}", post(oidc::link))
        .route("/account/recovery-codes", post(account::new_recovery_codes))
        .route(
            "/account/authenticator",
            get(account::authenticator_page).post(account::replace_authenticator),
        )
        .route("/logout", post(auth::logout))
        .route("/language/{lang}", get(portal::language))
        .route("/privacy", get(portal::privacy))
        .route("/", get(portal::home))
        .route("/catalog/{name}", get(portal::catalog))
        .route("/tickets/new", get(report::new_page).post(report::create))
        .route(
            "/tickets/new-for-someone",
            get(report::new_for_someone_page).post(report::create_for_someone),
        )
        .route("/pickers/{kind}", get(report::pickers))
        .route("/desk/import", get(import::form).post(import::run))
        .route("/desk/import/template/{file}", get(import::template))
        .route("/services", get(services::list))
        .route("/services/{id}", get(services::view))
        .route("/tickets/{number}", get(tickets::view))
        .route("/tickets/{number}/entries", post(tickets::add_entry))
        .route(
            "/tickets/{number}/edit",
            get(tickets::edit_page).post(tickets::edit),
        )
        .route("/tickets/{number}/system", post(tickets::assign_system))
        .route("/tickets/{number}/classify", post(tickets::classify))
        .route("/tickets/{number}/status", post(tickets::set_status))
        .route("/tickets/{number}/attachments/{id}", get(tickets::download))
        .route("/desk/partners", get(desk::partners))
        .route(
            "/desk/partners/new",
            get(desk::new_partner).post(desk::create_partner),
        )
        .route(
            "/desk/partners/{id}",
            get(desk::partner).post(desk::update_partner),
        )
        .route("/desk/partners/{id}/units", post(desk::add_unit))
        .route(
            "/desk/partners/{id}/units/{unit}/delete",
            post(desk::remove_unit),
        )
        .route("/desk/partners/{id}/contracts", post(desk::add_contract))
        .route("/desk/partners/{id}/services", post(desk::add_service))
        .route("/desk/partners/{id}/systems", post(desk::add_system))
        .route("/desk/persons", get(desk::persons))
        .route(
            "/desk/persons/new",
            get(desk::new_person).post(desk::create_person),
        )
        .route(
            "/desk/persons/{id}",
            get(desk::person).post(desk::update_person),
        )
        .route("/desk/persons/{id}/memberships", post(desk::join))
        .route(
            "/desk/persons/{id}/memberships/{partner}/delete",
            post(desk::leave),
        )
        .route("/desk/persons/{id}/password", post(desk::reset_sign_in))
        .route("/desk/persons/{id}/identities", post(desk::link_identity))
        .route(
            "/desk/persons/{id}/identities/{identity}/delete",
            post(desk::unlink_identity),
        )
        .route(
            "/desk/persons/{id}/invitations",
            post(desk::invite_identity),
        )
        .route("/desk/audit", get(desk::audit))
        .route(
            "/desk/contracts/{id}",
            get(desk::contract).post(desk::update_contract),
        )
        .route(
            "/desk/contracts/{id}/authorisations",
            post(desk::add_authorisation),
        )
        .route(
            "/desk/authorisations/{id}",
            post(desk::update_authorisation),
        )
        .route(
            "/desk/authorisations/{id}/end",
            post(desk::end_authorisation),
        )
        .route(
            "/desk/services/{id}",
            get(desk::service).post(desk::update_service),
        )
        .route(
            "/desk/systems/{id}",
            get(desk::system).post(desk::update_system),
        )
        .route("/desk/mail", get(desk::held_mails))
        .route("/desk/mail/{id}", get(desk::mail))
        .route("/desk/mail/{id}/raw", get(desk::raw_mail))
        .route("/desk/mail/{id}/retry", post(desk::retry_mail))
        .route("/desk/mail/{id}/accept", post(desk::accept_mail))
        .route("/desk/mail/{id}/discard", post(desk::discard_mail))
        .route("/desk/mail/{id}/attach", post(desk::attach_mail))
        .fallback(|| async { crate::WebError::NotFound })
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::security::same_origin,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::render::render_errors,
        ))
        .layer(middleware::from_fn_with_state(
            crate::security::policy(&provider_origins(&app)),
            crate::security::headers,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(app)
}

/// The origins of the configured identity providers' issuers (where their
/// sign-in pages are), for the pages' `form-action`.
fn provider_origins(app: &App) -> Vec<String> {
    app.settings()
        .identity_providers
        .iter()
        .filter_map(|p| url::Url::parse(&p.issuer).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
        .collect()
}

/// One span per request, with a request id; no query strings (they may
/// carry search terms) and no cookies.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = ticketwerk_domain::auth::new_token();
    tracing::info_span!(
        "request",
        id = %&id[..12],
        method = %request.method(),
        path = %request.uri().path(),
    )
}
