//! Tickets: create, view, add entries, edit the initial report, assign a
//! system, download attachments, and the desk's actions. Every handler
//! asks the viewer's access rules before it reads or writes anything.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ticketwerk_domain::model::{NewAttachment, Ticket};
use ticketwerk_domain::ticket::{
    check_status_change, check_transition, clean_text, status_after_entry, status_choices,
};
use ticketwerk_domain::{DomainError, EntryKind, Id, TicketKind, TicketNumber, TicketStatus};

use crate::session::{Current, now};
use crate::{App, WebError};

pub(super) const MAX_SHORT_TEXT: usize = 200;
pub(super) const MAX_TEXT: usize = 50_000;
pub(super) const MAX_REFERENCE: usize = 100;
const MAX_FILES: usize = 10;

/// A file from a form, not yet stored.
pub(super) struct Upload {
    file_name: String,
    content_type: String,
    pub(super) bytes: Vec<u8>,
}

/// A submitted multipart form: its text fields and its files.
#[derive(Default)]
pub(super) struct Submitted {
    pub(super) fields: HashMap<String, String>,
    pub(super) files: Vec<Upload>,
    /// A file refused (empty, over the size limit, one too many): the
    /// message key and the file's name.
    pub(super) file_error: Option<(&'static str, String)>,
}

impl Submitted {
    pub(super) fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Keeps only the last path component of a browser-supplied file name and
/// drops control characters; the name is only ever shown, never a path.
fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let trimmed = cleaned.trim().trim_start_matches('.').to_string();
    if trimmed.is_empty() {
        "file".to_string()
    } else {
        trimmed
    }
}

/// An upload cut off or malformed is a bad request; only one over the
/// body limit is too large.
fn multipart_error(e: axum::extract::multipart::MultipartError) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge
    } else {
        WebError::BadRequest
    }
}

pub(super) async fn read_multipart(
    app: &App,
    mut multipart: Multipart,
) -> Result<Submitted, WebError> {
    let max = app.settings().max_attachment_bytes;
    let mut out = Submitted::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            let text = field.text().await.map_err(multipart_error)?;
            out.fields.insert(name, text);
            continue;
        };
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if raw_name.is_empty() && bytes.is_empty() {
            continue; // a file input left empty
        }
        let file_name = clean_file_name(&raw_name);
        let problem = if bytes.is_empty() {
            Some("form.file_empty")
        } else if bytes.len() > max {
            Some("form.file_too_large")
        } else if out.files.len() >= MAX_FILES {
            Some("form.too_many_files")
        } else {
            None
        };
        match problem {
            Some(key) => out.file_error = Some((key, file_name)),
            None => out.files.push(Upload {
                file_name,
                content_type,
                bytes: bytes.to_vec(),
            }),
        }
    }
    Ok(out)
}

/// Writes uploads to the file store; on failure removes what was written.
pub(super) async fn store_files(
    app: &App,
    uploads: &[Upload],
) -> Result<Vec<NewAttachment>, WebError> {
    let mut stored = Vec::new();
    for u in uploads {
        match app.files().put(&u.bytes).await {
            Ok(key) => stored.push(NewAttachment {
                file_name: u.file_name.clone(),
                content_type: u.content_type.clone(),
                size: u.bytes.len() as i64,
                storage_key: key,
            }),
            Err(e) => {
                discard_files(app, &stored).await;
                return Err(WebError::Internal(e.into()));
            }
        }
    }
    Ok(stored)
}

pub(super) async fn discard_files(app: &App, stored: &[NewAttachment]) {
    for a in stored {
        app.files().delete(&a.storage_key).await;
    }
}

/// Looks a ticket up by number for this viewer: missing and out of scope
/// are the same 404.
async fn visible_ticket(app: &App, current: &Current, number: &str) -> Result<Ticket, WebError> {
    let number: TicketNumber = number.parse().map_err(|_| WebError::NotFound)?;
    let ticket = app
        .store()
        .ticket_by_number(&number)
        .await?
        .ok_or(WebError::NotFound)?;
    if !current.viewer.may_see_ticket(&ticket.parties()) {
        return Err(WebError::NotFound);
    }
    Ok(ticket)
}

pub(super) fn year_of(ts: i64) -> i32 {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).year() as i32)
        .unwrap_or(1970)
}

pub(super) fn options<T: Copy>(all: &[T], code: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| code(*v)).collect()
}

pub(super) fn parse_id(raw: &str) -> Result<Option<Id>, ()> {
    let raw = raw.trim();
    if raw.is_empty() {
        Ok(None)
    } else {
        raw.parse().map(Some).map_err(|_| ())
    }
}

// ---- View -----------------------------------------------------------------

#[derive(serde::Deserialize, Default)]
pub struct ViewParams {
    created: Option<String>,
}

/// What the entry form held when it was refused, so nothing typed is lost.
#[derive(Default)]
struct EntryDraft {
    kind: String,
    body: String,
    error: Option<&'static str>,
    file_problem: Option<String>,
    files_again: bool,
}

async fn ticket_page(
    app: &App,
    current: &Current,
    ticket: &Ticket,
    draft: &EntryDraft,
    notice: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let kinds = current.viewer.visible_entry_kinds();
    let entries = app.store().entries(ticket.id, &kinds).await?;
    let attachments = app.store().attachments(ticket.id, &kinds).await?;
    let systems = app.store().systems_of(ticket.business_partner_id).await?;
    // Which entries came by mail, and from whom: the desk's to know.
    let incoming = if current.viewer.sees_internal() {
        app.store().mails_of_ticket(ticket.id).await?
    } else {
        Vec::new()
    };
    let by_mail = app.store().opened_by_mail(ticket.id).await?;
    // Only kinds the ticket can take now: no solution on an unclassified call.
    let writable: Vec<&str> = current
        .viewer
        .writable_entry_kinds()
        .iter()
        .filter(|k| match status_after_entry(**k, ticket.status) {
            Some(next) => check_transition(ticket.kind, ticket.status, next).is_ok(),
            None => true,
        })
        .map(|k| k.code())
        .collect();
    // Attachments of internal notes are marked as such for the desk.
    let internal_entries: Vec<Id> = entries
        .iter()
        .filter(|e| !e.kind.customer_visible())
        .map(|e| e.id)
        .collect();
    // The desk's latest question, when it waits for the customer's answer.
    let open_question = (ticket.status == TicketStatus::WaitingForCustomer)
        .then(|| {
            entries
                .iter()
                .rev()
                .find(|e| e.kind == EntryKind::DeskQuestion)
        })
        .flatten()
        .map(|e| e.id);
    let report_editable = current
        .viewer
        .may_edit_report(&ticket.parties(), ticket.kind, ticket.status)
        .is_ok();
    // The desk sees what was mailed about the ticket and what became of it.
    let outgoing = if current.viewer.may_work_tickets() {
        mail_rows(app.store().outgoing_mails_of_ticket(ticket.id).await?)
    } else {
        Vec::new()
    };
    let ctx = minijinja::context! { ..current.chrome(app), ..minijinja::context! {
        ticket => ticket,
        outgoing => outgoing,
        entries => entries,
        attachments => attachments,
        systems => systems,
        entry_kinds => writable,
        closed => ticket.status == TicketStatus::Closed,
        report_editable => report_editable,
        desk => current.viewer.may_work_tickets(),
        classify_kinds => ["incident", "service_request"],
        statuses => status_choices(ticket.kind, ticket.status),
        internal_entries => internal_entries,
        incoming => incoming,
        by_mail => by_mail,
        open_question => open_question,
        draft => minijinja::context! {
            kind => draft.kind, body => draft.body, error => draft.error,
            file_problem => draft.file_problem,
            files_again => draft.files_again,
        },
        notice => notice,
        max_size => app.settings().max_attachment_bytes as i64,
    }};
    let mut page = app.page("ticket.html", ctx);
    *page.status_mut() = status;
    Ok(page)
}

/// A mail of the outbox as the desk's ticket page lists it.
#[derive(serde::Serialize)]
struct MailRow {
    template: &'static str,
    recipient: String,
    state: &'static str,
    reason: String,
    attempts: i64,
    created_at: i64,
    sent_at: Option<i64>,
}

fn mail_rows(mails: Vec<ticketwerk_storage::OutboxMail>) -> Vec<MailRow> {
    mails
        .into_iter()
        .map(|m| MailRow {
            template: m.template.name(),
            recipient: m.recipient_email,
            state: m.state.code(),
            reason: m.reason,
            attempts: m.attempts,
            created_at: m.created_at,
            sent_at: m.sent_at,
        })
        .collect()
}

pub async fn view(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    Query(params): Query<ViewParams>,
) -> Result<Response, WebError> {
    let ticket = visible_ticket(&app, &current, &number).await?;
    let notice = params.created.is_some().then_some("ticket.created_notice");
    ticket_page(
        &app,
        &current,
        &ticket,
        &EntryDraft::default(),
        notice,
        StatusCode::OK,
    )
    .await
}

pub async fn add_entry(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let form = read_multipart(&app, multipart).await?;
    current.check_csrf(form.get("csrf"))?;
    let ticket = visible_ticket(&app, &current, &number).await?;
    let kind: EntryKind = form.get("kind").parse().map_err(|_| WebError::BadRequest)?;
    if !current.viewer.may_write_entry(kind) {
        return Err(WebError::NotFound);
    }
    if let Some(next) = status_after_entry(kind, ticket.status) {
        check_transition(ticket.kind, ticket.status, next)?;
    }
    let body = clean_text(form.get("body"), true);
    let error = if body.is_empty() {
        Some("form.required")
    } else if body.chars().count() > MAX_TEXT {
        Some("form.too_long")
    } else {
        form.file_error.as_ref().map(|(key, _)| *key)
    };
    if error.is_some() {
        let draft = EntryDraft {
            kind: kind.code().to_string(),
            body: form.get("body").to_string(),
            error,
            file_problem: form.file_error.as_ref().map(|(_, name)| name.clone()),
            files_again: !form.files.is_empty(),
        };
        return ticket_page(
            &app,
            &current,
            &ticket,
            &draft,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let stored = store_files(&app, &form.files).await?;
    let result = app
        .store()
        .add_entry(&ticket, kind, current.person.id, &body, &stored, now())
        .await;
    match result {
        // To the newest entry of the timeline, not to the entry's id,
        // which would tell a customer how many entries exist elsewhere.
        Ok(_) => Ok(Redirect::to(&format!("/tickets/{number}#latest")).into_response()),
        Err(e) => {
            discard_files(&app, &stored).await;
            Err(e.into())
        }
    }
}

// ---- Edit the initial report -------------------------------------------

#[derive(serde::Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    short_text: String,
    #[serde(default)]
    description: String,
}

fn edit_page_response(
    app: &App,
    current: &Current,
    ticket: &Ticket,
    values: (&str, &str),
    errors: &HashMap<&'static str, &'static str>,
    locked: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let ctx = minijinja::context! { ..current.chrome(app), ..minijinja::context! {
        ticket => ticket,
        short_text => values.0,
        description => values.1,
        errors => errors,
        locked => locked,
    }};
    let mut page = app.page("ticket_edit.html", ctx);
    *page.status_mut() = status;
    page
}

fn edit_refusal(e: DomainError) -> Result<&'static str, WebError> {
    match e {
        DomainError::Conflict(code) => Ok(code),
        other => Err(other.into()),
    }
}

pub async fn edit_page(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    let ticket = visible_ticket(&app, &current, &number).await?;
    let locked = match current
        .viewer
        .may_edit_report(&ticket.parties(), ticket.kind, ticket.status)
    {
        Ok(()) => None,
        Err(e) => Some(edit_refusal(e)?),
    };
    let values = (ticket.short_text.as_str(), ticket.description.as_str());
    let status = if locked.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok(edit_page_response(
        &app,
        &current,
        &ticket,
        values,
        &HashMap::new(),
        locked,
        status,
    ))
}

pub async fn edit(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let ticket = visible_ticket(&app, &current, &number).await?;
    let values = (form.short_text.as_str(), form.description.as_str());
    let short_text = clean_text(&form.short_text, false);
    let description = clean_text(&form.description, true);
    let allowed = current
        .viewer
        .may_edit_report(&ticket.parties(), ticket.kind, ticket.status);
    if let Err(e) = allowed {
        let code = edit_refusal(e)?;
        return Ok(edit_page_response(
            &app,
            &current,
            &ticket,
            values,
            &HashMap::new(),
            Some(code),
            StatusCode::CONFLICT,
        ));
    }
    let mut errors = HashMap::new();
    for (name, value, max) in [
        ("short_text", short_text.as_str(), MAX_SHORT_TEXT),
        ("description", description.as_str(), MAX_TEXT),
    ] {
        if value.is_empty() {
            errors.insert(name, "form.required");
        } else if value.chars().count() > max {
            errors.insert(name, "form.too_long");
        }
    }
    if !errors.is_empty() {
        return Ok(edit_page_response(
            &app,
            &current,
            &ticket,
            values,
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let result = app
        .store()
        .edit_report(&ticket, &short_text, &description, current.person.id, now())
        .await;
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/tickets/{number}")).into_response()),
        Err(ticketwerk_storage::StorageError::Domain(DomainError::Conflict(code))) => {
            Ok(edit_page_response(
                &app,
                &current,
                &ticket,
                values,
                &HashMap::new(),
                Some(code),
                StatusCode::CONFLICT,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ---- System, desk actions ------------------------------------------------

#[derive(serde::Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    value: String,
}

pub async fn assign_system(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    Form(form): Form<ChoiceForm>,
) -> Result<Response, WebError> {
    current.check_csrf(&form.csrf)?;
    let ticket = visible_ticket(&app, &current, &number).await?;
    // Empty: no system (any more).
    let system = parse_id(&form.value).map_err(|_| WebError::BadRequest)?;
    if ticket.status == TicketStatus::Closed {
        return Err(WebError::Conflict("ticket_closed"));
    }
    app.store()
        .assign_system(&ticket, system, current.person.id, now())
        .await?;
    Ok(Redirect::to(&format!("/tickets/{number}")).into_response())
}

/// The ticket for a desk action: agents only; everyone else gets 404.
async fn desk_ticket(
    app: &App,
    current: &Current,
    number: &str,
    csrf: &str,
) -> Result<Ticket, WebError> {
    current.check_csrf(csrf)?;
    if !current.viewer.may_work_tickets() {
        return Err(WebError::NotFound);
    }
    visible_ticket(app, current, number).await
}

pub async fn classify(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    Form(form): Form<ChoiceForm>,
) -> Result<Response, WebError> {
    let ticket = desk_ticket(&app, &current, &number, &form.csrf).await?;
    let kind: TicketKind = form.value.parse().map_err(|_| WebError::BadRequest)?;
    app.store()
        .classify(&ticket, kind, current.person.id, now())
        .await?;
    Ok(Redirect::to(&format!("/tickets/{number}")).into_response())
}

pub async fn set_status(
    State(app): State<App>,
    current: Current,
    Path(number): Path<String>,
    Form(form): Form<ChoiceForm>,
) -> Result<Response, WebError> {
    let ticket = desk_ticket(&app, &current, &number, &form.csrf).await?;
    let status: TicketStatus = form.value.parse().map_err(|_| WebError::BadRequest)?;
    check_status_change(ticket.kind, ticket.status, status)?;
    app.store()
        .set_status(&ticket, status, current.person.id, now())
        .await?;
    Ok(Redirect::to(&format!("/tickets/{number}")).into_response())
}

// ---- Attachments ------------------------------------------------------------

/// Types a browser may show inline; everything else is a download.
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "application/pdf"];

pub async fn download(
    State(app): State<App>,
    current: Current,
    Path((number, id)): Path<(String, Id)>,
) -> Result<Response, WebError> {
    let ticket = visible_ticket(&app, &current, &number).await?;
    let kinds = current.viewer.visible_entry_kinds();
    let attachment = app
        .store()
        .attachments(ticket.id, &kinds)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or(WebError::NotFound)?;
    let bytes = app.files().get(&attachment.storage_key).await?;
    let inline = INLINE_TYPES.contains(&attachment.content_type.as_str());
    let content_type = if inline {
        attachment.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encode(&attachment.file_name)
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
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

/// RFC 5987 encoding of a file name for `filename*`.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_become_paths() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\a\\Bild 1.png"), "Bild 1.png");
        assert_eq!(clean_file_name(".."), "file");
        assert_eq!(clean_file_name("a\u{0}b\n.txt"), "ab.txt");
    }

    #[test]
    fn percent_encoding_of_names() {
        assert_eq!(
            percent_encode("Bericht März.pdf"),
            "Bericht%20M%C3%A4rz.pdf"
        );
    }
}
