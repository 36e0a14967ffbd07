//! "Meine Services": the services booked by the person's business
//! partners, each with the description of what it includes.

use axum::extract::{Path, State};
use axum::response::Response;
use ticketwerk_domain::Id;

use crate::session::Current;
use crate::{App, WebError};

pub async fn list(State(app): State<App>, current: Current) -> Result<Response, WebError> {
    if !current.viewer.may_see_own_services() {
        return Err(WebError::NotFound);
    }
    let ids: Vec<Id> = current.partners.iter().map(|p| p.id).collect();
    let services = app.store().services_of_partners(&ids, false).await?;
    let groups: Vec<minijinja::Value> = current
        .partners
        .iter()
        .map(|p| {
            let items: Vec<_> = services
                .iter()
                .filter(|s| s.business_partner_id == p.id)
                .collect();
            minijinja::context! { partner => p, items => items }
        })
        .collect();
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        groups => groups,
        several => current.partners.len() > 1,
    }};
    Ok(app.page("services.html", ctx))
}

pub async fn view(
    State(app): State<App>,
    current: Current,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: Id = id.parse().map_err(|_| WebError::NotFound)?;
    let service = app.store().service(id).await?.ok_or(WebError::NotFound)?;
    if !current.viewer.may_see_own_services()
        || !current
            .viewer
            .may_see_offering(service.business_partner_id, service.active)
    {
        return Err(WebError::NotFound);
    }
    let partner = current
        .partners
        .iter()
        .find(|p| p.id == service.business_partner_id);
    let ctx = minijinja::context! { ..current.chrome(&app), ..minijinja::context! {
        service => service,
        partner => partner,
    }};
    Ok(app.page("service.html", ctx))
}
