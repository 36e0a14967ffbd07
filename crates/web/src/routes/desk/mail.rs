//! Mail held for the desk: the list, one message with what is known of
//! it, and what the desk does with it: download the raw message, retry it
//! (after an upgrade, or once its sender exists as a person), accept it as
//! a new call for a person, or discard it. Agents only, like all of the
//! desk (the `Desk` extractor answers 404 to anyone else).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::{DomainError, Email, TicketNumber};
use ticketwerk_storage::{InboundMail, Recorded};

use super::{Desk, Errors, FormView, Forms, ListParams, PAGE_SIZE, attempt, named, refused};
use crate::session::now;
use crate::{App, WebError};

pub async fn held(
    State(app): State<App>,
    desk: Desk,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let page = app.store().held_mails(params.after(), PAGE_SIZE).await?;

    let ctx = minijinja::context! {
        page => minijinja::context! { items => page.items, next => page.next },
        paged => params.after().is_some(),
    };
    Ok(desk.page(&app, "desk_mails.html", &Forms::new(), ctx))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Shown {
    done: Option<String>,
}

pub async fn mail(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;

    let notice = shown.done.as_deref().and_then(notice_of);
    mail_page(&app, &desk, &mail, &Forms::new(), notice).await
}

async fn mail_page(
    app: &App,
    desk: &Desk,
    mail: &InboundMail,
    forms: &Forms,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    // The text as the desk reads it before deciding; escaped like every
    // value of a page, so nothing in a mail runs here.
    let text = app.ingest().readable(mail.id).await?.map(|m| m.text);
    let ctx = minijinja::context! { mail => mail, notice => notice, text => text };
    Ok(desk.page(app, "desk_mail.html", forms, ctx))
}

fn notice_of(done: &str) -> Option<&'static str> {
    match done {
        "retried" => Some("mail.retried"),
        "accepted" => Some("mail.accepted"),
        "discarded" => Some("mail.discarded"),
        "attached" => Some("mail.attached"),
        _ => None,
    }
}

/// The message exactly as it arrived, as a file to open in a mail program.
pub async fn raw(
    State(app): State<App>,
    _desk: Desk,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;
    let bytes = app.files().get(&mail.raw_key).await?;

    let disposition = format!("attachment; filename=\"mail-{}.eml\"", mail.id);
    Ok((
        [
            // Never rendered by the browser: whatever the mail holds stays
            // inert.
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
    person: String,
    /// Customer number, for a person of several business partners.
    business_partner: String,
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/desk/mail/{id}?done={done}")).into_response()
}

pub async fn discard(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;

    let done = app
        .store()
        .discard_held(mail.id, desk.person.id, now())
        .await?;
    if !done {
        return Err(WebError::Conflict("mail_not_held"));
    }
    let detail = format!("mail {}", mail.id);
    app.store()
        .audit(now(), Some(desk.person.id), "mail_discarded", &detail)
        .await?;
    tracing::info!(target: "mail", mail = mail.id, "held mail discarded");
    Ok(back(mail.id, "discarded"))
}

pub async fn retry(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;

    let done = app
        .ingest()
        .retry(mail.id, Some(desk.person.id), now())
        .await?;
    match done {
        Some(recorded) => {
            log(mail.id, "held mail retried", &recorded);
            Ok(back(mail.id, "retried"))
        }
        None => Err(WebError::Conflict("mail_not_held")),
    }
}

pub async fn accept(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;

    let email = match form.person.trim() {
        "" => Err(DomainError::invalid("person", "form.required")),
        raw => Email::parse(raw).map_err(|_| DomainError::invalid("person", "unknown_choice")),
    };
    let partner = match form.business_partner.trim() {
        "" => Ok(None),
        number => app
            .store()
            .business_partner_by_number(number)
            .await?
            .map(|p| Some(p.id))
            .ok_or_else(|| DomainError::invalid("business_partner", "unknown_choice")),
    };
    let input = email.and_then(|email| partner.map(|partner| (email, partner)));
    let (ingest, by) = (app.ingest(), desk.person.id);
    let accepted = attempt(input, |(email, partner)| async move {
        ingest
            .accept_as_call(mail.id, &email, partner, by, now())
            .await
    });
    match accepted.await? {
        Ok(Some(recorded)) => {
            let detail = format!("mail {} for {}", mail.id, form.person.trim());
            app.store()
                .audit(now(), Some(by), "mail_accepted", &detail)
                .await?;
            log(mail.id, "held mail accepted as a call", &recorded);
            Ok(back(mail.id, "accepted"))
        }
        Ok(None) => Err(WebError::Conflict("mail_not_held")),
        Err(errors) => {
            let form = FormView::new("accept-")
                .with("person", form.person.trim())
                .with("business_partner", form.business_partner.trim());
            let forms = refused("accept", form, errors_of(errors));
            mail_page(&app, &desk, &mail, &forms, None).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AttachForm {
    csrf: String,
    ticket: String,
}

/// Files a held mail on a ticket the desk names, for the desk only.
pub async fn attach(
    State(app): State<App>,
    desk: Desk,
    Path(id): Path<String>,
    Form(form): Form<AttachForm>,
) -> Result<Response, WebError> {
    desk.check_csrf(&form.csrf)?;
    let mail = named(&id, |id| app.store().inbound_mail(id)).await?;

    let number = match form.ticket.trim() {
        "" => Err(DomainError::invalid("ticket", "form.required")),
        raw => raw
            .parse::<TicketNumber>()
            .map_err(|_| DomainError::invalid("ticket", "mail.no_such_ticket")),
    };
    let (ingest, by) = (app.ingest(), desk.person.id);
    let attached = attempt(number, |number| async move {
        ingest.attach_to_ticket(mail.id, &number, by, now()).await
    });
    match attached.await? {
        Ok(Some(recorded)) => {
            let detail = format!("mail {} to {}", mail.id, form.ticket.trim());
            app.store()
                .audit(now(), Some(by), "mail_attached", &detail)
                .await?;
            log(mail.id, "held mail filed on a ticket", &recorded);
            Ok(back(mail.id, "attached"))
        }
        Ok(None) => Err(WebError::Conflict("mail_not_held")),
        Err(errors) => {
            let errors = errors
                .into_iter()
                .map(|(field, code)| match code {
                    "unknown_choice" => (field, "mail.no_such_ticket"),
                    other => (field, other),
                })
                .collect();
            let form = FormView::new("attach-").with("ticket", form.ticket.trim());
            let forms = refused("attach", form, errors);
            mail_page(&app, &desk, &mail, &forms, None).await
        }
    }
}

/// The person field's problems with the desk's wording.
fn errors_of(errors: Errors) -> Errors {
    errors
        .into_iter()
        .map(|(field, code)| match (field, code) {
            ("person", "unknown_choice") => (field, "mail.no_such_person"),
            ("business_partner", "unknown_choice") => (field, "mail.not_a_partner_of_person"),
            _ => (field, code),
        })
        .collect()
}

fn log(id: i64, what: &str, recorded: &Recorded) {
    if let Recorded::Stored { fate, ticket, .. } = recorded {
        tracing::info!(
            target: "mail",
            mail = id,
            fate = fate.code(),
            ticket = ticket.as_ref().map(|t| t.as_str()),
            "{what}"
        );
    }
}
