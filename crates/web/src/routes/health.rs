//! Probes for load balancers.

use axum::extract::State;
use axum::http::StatusCode;

use crate::App;

/// Answers while the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Answers 200 only while the database answers.
pub async fn readyz(State(app): State<App>) -> (StatusCode, &'static str) {
    if app.store().ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
