//! The desk's import of persons and systems from CSV, with a dry run.
//! The rules are the domain's (`import`) and storage's (one transaction,
//! nothing written when any row is refused); this page uploads and reports.

use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ticketwerk_domain::import::{ImportKind, RowError, parse_persons, parse_systems};
use ticketwerk_storage::ImportReport;

use super::desk::Desk;
use super::tickets::read_multipart;
use crate::session::Current;
use crate::{App, WebError};

fn page(
    app: &App,
    current: &Current,
    kind: ImportKind,
    dry_run: bool,
    report: Option<&ImportReport>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = minijinja::context! { ..current.chrome(app), ..minijinja::context! {
        kind => kind.code(),
        dry_run => dry_run,
        report => report,
        error => error,
    }};
    let mut page = app.page("desk_import.html", ctx);
    *page.status_mut() = status;
    page
}

pub async fn form(State(app): State<App>, desk: Desk) -> Result<Response, WebError> {
    Ok(page(
        &app,
        &desk,
        ImportKind::Persons,
        true,
        None,
        None,
        StatusCode::OK,
    ))
}

pub async fn run(
    State(app): State<App>,
    desk: Desk,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let current: &Current = &desk;
    let form = read_multipart(&app, multipart).await?;
    current.check_csrf(form.get("csrf"))?;
    let kind = ImportKind::parse(form.get("kind")).ok_or(WebError::BadRequest)?;
    let dry_run = !form.get("dry_run").is_empty();
    let Some(file) = form.files.first() else {
        let problem = form
            .file_error
            .as_ref()
            .map_or("import.no_file", |(key, _)| *key);
        return Ok(page(
            &app,
            current,
            kind,
            dry_run,
            None,
            Some(problem),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let change = desk.change();
    let refused_file = |e: RowError| ImportReport {
        rejected: vec![e],
        ..ImportReport::default()
    };
    let report = match kind {
        ImportKind::Persons => match parse_persons(&file.bytes) {
            Ok(p) => {
                app.store()
                    .import_persons(&p.rows, p.errors, change, dry_run)
                    .await?
            }
            Err(e) => refused_file(e),
        },
        ImportKind::Systems => match parse_systems(&file.bytes) {
            Ok(p) => {
                app.store()
                    .import_systems(&p.rows, p.errors, change, dry_run)
                    .await?
            }
            Err(e) => refused_file(e),
        },
    };
    tracing::info!(
        target: "security",
        event = "master_data_imported",
        person = current.person.id,
        kind = kind.code(),
        rows = report.rows,
        created = report.created,
        rejected = report.refused_rows(),
        written = report.written,
    );
    app.store()
        .audit(
            change.at,
            Some(current.person.id),
            "master_data_imported",
            &format!(
                "kind={} rows={} created={} rejected={} written={}",
                kind.code(),
                report.rows,
                report.created,
                report.refused_rows(),
                report.written
            ),
        )
        .await?;
    let status = if report.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(page(
        &app,
        current,
        kind,
        dry_run,
        Some(&report),
        None,
        status,
    ))
}

/// A CSV file with the header line of an import, to fill in.
pub async fn template(_desk: Desk, Path(kind): Path<String>) -> Result<Response, WebError> {
    let kind = kind
        .strip_suffix(".csv")
        .and_then(ImportKind::parse)
        .ok_or(WebError::NotFound)?;
    let disposition = format!("attachment; filename=\"{}.csv\"", kind.code());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        kind.template(),
    )
        .into_response())
}
