//! The web layer's one error type, mapped to HTTP here and nowhere else.
//! The page a person sees is rendered afterwards in their language by
//! `render::render_errors`, which finds the `ErrorPage` marker.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::DomainError;
use ticketwerk_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Missing, or out of the person's scope: the same answer for both.
    #[error("not found")]
    NotFound,
    /// No valid session: go and sign in.
    #[error("sign-in required")]
    SignIn,
    /// A form without a valid CSRF token, or from another site.
    #[error("request forgery check failed")]
    Forbidden,
    /// A signed-in (or half signed-in) person's form without its CSRF
    /// token: refused like `Forbidden`, and written to the security log
    /// under the person.
    #[error("request forgery check failed")]
    CsrfRefused(ticketwerk_domain::Id),
    /// The action is not possible now; the code names why.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Marks an error response; carries the message key of the page to show.
#[derive(Clone, Debug)]
pub struct ErrorPage(pub String);

/// Marks a refusal the security log records for a person; written by
/// `render::render_errors`, which may wait for the database.
#[derive(Clone, Copy, Debug)]
pub struct SecurityRefusal {
    pub person: ticketwerk_domain::Id,
    pub event: &'static str,
}

impl From<StorageError> for WebError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Domain(d) => d.into(),
            other => WebError::Internal(other.into()),
        }
    }
}

impl From<DomainError> for WebError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => WebError::NotFound,
            DomainError::Conflict(code) => WebError::Conflict(code),
            DomainError::Invalid(_) => WebError::BadRequest,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, key) = match &self {
            WebError::SignIn => return Redirect::to("/login").into_response(),
            WebError::NotFound => (StatusCode::NOT_FOUND, "error.not_found"),
            WebError::Forbidden => (StatusCode::FORBIDDEN, "error.forbidden"),
            WebError::CsrfRefused(person) => {
                let mut r = StatusCode::FORBIDDEN.into_response();
                r.extensions_mut()
                    .insert(ErrorPage("error.forbidden".to_string()));
                r.extensions_mut().insert(SecurityRefusal {
                    person: *person,
                    event: "csrf_refused",
                });
                return r;
            }
            WebError::Conflict(code) => {
                let mut r = StatusCode::CONFLICT.into_response();
                r.extensions_mut()
                    .insert(ErrorPage(format!("conflict.{code}")));
                return r;
            }
            WebError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "error.too_large"),
            WebError::BadRequest => (StatusCode::BAD_REQUEST, "error.bad_request"),
            WebError::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "error.internal")
            }
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(ErrorPage(key.to_string()));
        r
    }
}
